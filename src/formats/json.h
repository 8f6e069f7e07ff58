/* SPDX-License-Identifier: MIT */
/* json.h: the JSON document format (see format.h for the contract). */
#ifndef CH_FORMATS_JSON_H
#define CH_FORMATS_JSON_H

#include "formats/format.h"

enum confhub_status ch_json_doc_parse(const char *name, const char *text, size_t len,
                                      const struct ch_format_opts *opts, json_t **out,
                                      struct ch_err *err);

enum confhub_status ch_json_doc_dump(const json_t *doc, const struct ch_format_opts *opts,
                                     char **out, size_t *len_out, struct ch_err *err);

#endif
