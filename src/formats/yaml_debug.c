/* SPDX-License-Identifier: MIT */
/*
 * yaml_debug.c: `confhub debug yaml-to-json` and `confhub debug yaml-roundtrip`, the YAML reader
 * and writer exposed to the yaml-test-suite harness (tests/conformance/yaml.sh). Both go
 * through ch_yaml_parse with multi_doc on, exactly the code an import uses.
 */
#include <stdio.h>

#include "common/alloc.h"
#include "common/fileio.h"
#include "formats/yaml.h"

#define MAX_INPUT_BYTES (64u * 1024 * 1024)

/* Reads standard input and parses it as a stream of documents. OUT: *docs (an array). */
static int read_docs(const char *cmd, json_t **docs)
{
    struct ch_format_opts opts = {.multi_doc = true};
    struct ch_err err;
    char *text = NULL;
    size_t len = 0;
    enum confhub_status rc;

    ch_err_clear(&err);
    rc = ch_file_read("-", MAX_INPUT_BYTES, &text, &len, &err);
    if (rc == CONFHUB_OK)
        rc = ch_yaml_parse("-", text, len, &opts, docs, &err);
    ch_free(text);
    if (rc != CONFHUB_OK) {
        fprintf(stderr, "confhub debug %s: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}

int ch_yaml_debug_to_json(int argc, char **argv)
{
    json_t *docs = NULL, *doc;
    size_t i;
    int code;

    (void)argc;
    (void)argv;
    code = read_docs("yaml-to-json", &docs);
    if (code != 0)
        return code;
    json_array_foreach(docs, i, doc)
    {
        char *text = json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (!text) {
            fprintf(stderr, "confhub debug yaml-to-json: out of memory\n");
            code = 1;
            break;
        }
        printf("%s\n", text);
        ch_free(text);
    }
    json_decref(docs);
    return code;
}

int ch_yaml_debug_roundtrip(int argc, char **argv)
{
    struct ch_format_opts opts = {.multi_doc = true};
    struct ch_err err;
    json_t *docs = NULL;
    char *text = NULL;
    size_t len = 0;
    int code;

    (void)argc;
    (void)argv;
    code = read_docs("yaml-roundtrip", &docs);
    if (code != 0)
        return code;
    ch_err_clear(&err);
    if (ch_yaml_dump(docs, &opts, &text, &len, &err) != CONFHUB_OK) {
        fprintf(stderr, "confhub debug yaml-roundtrip: %s\n", err.msg);
        code = 1;
    } else {
        fwrite(text, 1, len, stdout);
    }
    ch_free(text);
    json_decref(docs);
    return code;
}
