/* SPDX-License-Identifier: MIT */
/* format.c: format names and the dispatch to json.c, yaml.c and toml.c (see format.h). */
#include "formats/format.h"

#include <string.h>
#include <strings.h>

#include "formats/json.h"
#include "formats/toml.h"
#include "formats/yaml.h"

static const struct {
    const char *name;
    const char *media_type;
} formats[] = {
    [CH_FORMAT_JSON] = {"json", "application/json"},
    [CH_FORMAT_YAML] = {"yaml", "application/yaml"},
    [CH_FORMAT_TOML] = {"toml", "application/toml"},
};

bool ch_format_from_name(const char *name, enum ch_format *out)
{
    if (strcasecmp(name, "yml") == 0) {
        *out = CH_FORMAT_YAML;
        return true;
    }
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcasecmp(name, formats[i].name) == 0) {
            *out = (enum ch_format)i;
            return true;
        }
    }
    return false;
}

bool ch_format_from_path(const char *path, enum ch_format *out)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return false;
    return ch_format_from_name(dot + 1, out);
}

const char *ch_format_name(enum ch_format f)
{
    return formats[f].name;
}

const char *ch_format_media_type(enum ch_format f)
{
    return formats[f].media_type;
}

enum confhub_status ch_format_parse(enum ch_format f, const char *name, const char *text,
                                    size_t len, const struct ch_format_opts *opts, json_t **out,
                                    struct ch_err *err)
{
    switch (f) {
    case CH_FORMAT_JSON:
        return ch_json_doc_parse(name, text, len, opts, out, err);
    case CH_FORMAT_TOML:
        return ch_toml_parse(name, text, len, opts, out, err);
    case CH_FORMAT_YAML:
        return ch_yaml_parse(name, text, len, opts, out, err);
    }
    return ch_err_set(err, CONFHUB_EINVAL, "%s: unknown format %d", name, (int)f);
}

enum confhub_status ch_format_dump(enum ch_format f, const json_t *doc,
                                   const struct ch_format_opts *opts, char **out, size_t *len_out,
                                   struct ch_err *err)
{
    switch (f) {
    case CH_FORMAT_JSON:
        return ch_json_doc_dump(doc, opts, out, len_out, err);
    case CH_FORMAT_TOML:
        return ch_toml_dump(doc, opts, out, len_out, err);
    case CH_FORMAT_YAML:
        return ch_yaml_dump(doc, opts, out, len_out, err);
    }
    return ch_err_set(err, CONFHUB_EINVAL, "unknown format %d", (int)f);
}
