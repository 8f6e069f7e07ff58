/* SPDX-License-Identifier: MIT */
/*
 * tools_main.c: `confhub convert` (a document from one format to another, offline) and
 * `confhub debug` (the parsers exposed to the conformance harnesses, docs/formats.md).
 */
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/fileio.h"
#include "formats/format.h"
#include "formats/toml.h"
#include "formats/yaml.h"
#include "tools.h"

#define MAX_DOCUMENT_BYTES (1u << 30)

static void convert_usage(FILE *out)
{
    fprintf(out, "usage: confhub convert FILE|- --to json|yaml|toml [--from FORMAT] [-o FILE]\n"
                 "                        [--pretty]\n"
                 "\n"
                 "Converts a document between JSON, YAML and TOML without a server. The input\n"
                 "format comes from the file's extension (--from overrides it; standard input\n"
                 "needs --from). Types are kept; what the target cannot hold is an error that\n"
                 "names the key. Exit codes: 0 converted, 1 usage error or invalid input,\n"
                 "4 a file could not be read or written.\n");
}

static int exit_code_for(enum confhub_status rc)
{
    return rc == CONFHUB_EIO ? 4 : 1;
}

int ch_tools_convert_main(int argc, char **argv)
{
    const char *in = NULL, *out = "-", *to = NULL, *from = NULL;
    struct ch_format_opts opts = {0};
    enum ch_format src, dst;
    struct ch_err err;
    char *text = NULL, *result = NULL;
    size_t len = 0, result_len = 0;
    json_t *doc = NULL;
    enum confhub_status rc;
    int code = 1;

    ch_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--to") == 0 || strcmp(a, "--from") == 0 || strcmp(a, "-o") == 0) &&
            i + 1 < argc) {
            const char **slot = a[1] == 'o' ? &out : a[2] == 't' ? &to : &from;
            *slot = argv[++i];
        } else if (strcmp(a, "--pretty") == 0) {
            opts.pretty = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            convert_usage(stdout);
            return 0;
        } else if (!in && (a[0] != '-' || strcmp(a, "-") == 0)) {
            in = a;
        } else {
            fprintf(stderr, "confhub convert: unexpected argument '%s'\n", a);
            convert_usage(stderr);
            return 1;
        }
    }
    if (!in || !to) {
        convert_usage(stderr);
        return 1;
    }
    if (!ch_format_from_name(to, &dst)) {
        fprintf(stderr, "confhub convert: --to '%s': expected json, yaml or toml\n", to);
        return 1;
    }
    if (from ? !ch_format_from_name(from, &src) : !ch_format_from_path(in, &src)) {
        fprintf(stderr,
                "confhub convert: cannot tell the format of '%s': use --from "
                "json|yaml|toml\n",
                from ? from : in);
        return 1;
    }
    rc = ch_file_read(in, MAX_DOCUMENT_BYTES, &text, &len, &err);
    if (rc == CONFHUB_OK)
        rc = ch_format_parse(src, in, text, len, &opts, &doc, &err);
    if (rc == CONFHUB_OK)
        rc = ch_format_dump(dst, doc, &opts, &result, &result_len, &err);
    if (rc == CONFHUB_OK)
        rc = ch_file_write(out, result, result_len, &err);
    if (rc == CONFHUB_OK)
        code = 0;
    else {
        fprintf(stderr, "confhub convert: %s\n", err.msg);
        code = exit_code_for(rc);
    }
    ch_free(text);
    ch_free(result);
    json_decref(doc);
    return code;
}

/* ---------------------------------------------------------------- debug */

/* Replaces every "\u0000" escape with "\u0001": the same length and the same validity, but
 * storable by jansson, which cannot hold a NUL byte inside an object key. */
static void unescape_nul_keys(char *text, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (memcmp(text + i, "\\u0000", 6) == 0)
            text[i + 5] = '1';
    }
}

/* `json-validate [FILE]`: exit 0 when the input is valid JSON, 1 when it is not (the
 * JSONTestSuite convention). Duplicate keys are valid syntax here; importing them is refused. */
static int debug_json_validate(int argc, char **argv)
{
    struct ch_err err;
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;
    json_t *v = NULL;
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;

    ch_err_clear(&err);
    if (ch_file_read(argc > 1 ? argv[1] : "-", MAX_DOCUMENT_BYTES, &text, &len, &err) !=
        CONFHUB_OK) {
        fprintf(stderr, "confhub debug json-validate: %s\n", err.msg);
        return 4;
    }
    /* jansson stops at a raw NUL byte; JSON never allows one outside a string escape. */
    if (!memchr(text, '\0', len)) {
        v = json_loadb(text, len, flags, &jerr);
        if (!v && json_error_code(&jerr) == json_error_null_byte_in_key) {
            unescape_nul_keys(text, len);
            v = json_loadb(text, len, flags, &jerr);
        }
    }
    ch_free(text);
    if (!v)
        return 1;
    json_decref(v);
    return 0;
}

/* `toml-decode` and `toml-encode`: the toml-test decoder and encoder (formats/toml_debug.c). */
static int debug_toml_decode(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ch_toml_debug_decode(stdin, stdout, stderr);
}

static int debug_toml_encode(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return ch_toml_debug_encode(stdin, stdout, stderr);
}

struct debug_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* clang-format off */
static const struct debug_cmd debug_cmds[] = {
    {"json-validate", debug_json_validate, "exit 0 if FILE (or stdin) is valid JSON, 1 if not"},
    {"toml-decode",   debug_toml_decode,   "TOML on stdin -> toml-test tagged JSON on stdout"},
    {"toml-encode",   debug_toml_encode,   "toml-test tagged JSON on stdin -> TOML on stdout"},
    {"yaml-to-json",   ch_yaml_debug_to_json,   "YAML on stdin -> one JSON text per document"},
    {"yaml-roundtrip", ch_yaml_debug_roundtrip, "YAML on stdin -> parsed and written back as YAML"},
};

/* clang-format on */

int ch_tools_debug_main(int argc, char **argv)
{
    size_t n = sizeof(debug_cmds) / sizeof(debug_cmds[0]);
    if (argc >= 2) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(argv[1], debug_cmds[i].name) == 0)
                return debug_cmds[i].fn(argc - 1, argv + 1);
        }
    }
    FILE *out = argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr;
    fprintf(out, "usage: confhub debug COMMAND [ARGS]\n\n"
                 "The parsers, exposed for conformance suites (docs/formats.md):\n");
    for (size_t i = 0; i < n; i++)
        fprintf(out, "  %-16s %s\n", debug_cmds[i].name, debug_cmds[i].summary);
    return out == stdout ? 0 : 1;
}
