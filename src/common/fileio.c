/* SPDX-License-Identifier: MIT */
/* fileio.c: see fileio.h. */
#include "common/fileio.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"

#define CHUNK 65536

enum confhub_status ch_file_read_stream(FILE *f, const char *name, size_t max, char **text,
                                        size_t *len, struct ch_err *err)
{
    struct ch_buf b = {0};
    char chunk[CHUNK];
    size_t got;

    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + got > max) {
            ch_buf_free(&b);
            return ch_err_set(err, CONFHUB_ETOOBIG, "'%s' is larger than %zu bytes", name, max);
        }
        if (!ch_buf_add(&b, chunk, got)) {
            ch_buf_free(&b);
            return ch_err_set(err, CONFHUB_ENOMEM, "cannot read '%s': out of memory", name);
        }
    }
    if (ferror(f)) {
        int saved = errno;
        ch_buf_free(&b);
        return ch_err_set(err, CONFHUB_EIO, "cannot read '%s': %s", name, strerror(saved));
    }
    if (!ch_buf_add(&b, "", 0)) { /* an empty input is "", never NULL */
        ch_buf_free(&b);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot read '%s': out of memory", name);
    }
    *text = b.ptr;
    *len = b.len;
    return CONFHUB_OK;
}

enum confhub_status ch_file_read(const char *path, size_t max, char **text, size_t *len,
                                 struct ch_err *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    enum confhub_status rc;

    if (!f)
        return ch_err_set(err, CONFHUB_EIO, "cannot open '%s': %s", path, strerror(errno));
    rc = ch_file_read_stream(f, is_stdin ? "standard input" : path, max, text, len, err);
    if (!is_stdin)
        fclose(f);
    return rc;
}

enum confhub_status ch_file_write(const char *path, const char *data, size_t len,
                                  struct ch_err *err)
{
    char tmp[4096];
    FILE *f;
    int saved;

    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            return ch_err_set(err, CONFHUB_EIO, "cannot write to standard output: %s",
                              strerror(errno));
        return CONFHUB_OK;
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
        return ch_err_set(err, CONFHUB_EINVAL, "path too long: '%s'", path);
    f = fopen(tmp, "wb");
    if (!f)
        return ch_err_set(err, CONFHUB_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    if (fwrite(data, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        saved = errno;
        fclose(f);
        unlink(tmp);
        return ch_err_set(err, CONFHUB_EIO, "cannot write '%s': %s", path, strerror(saved));
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        return ch_err_set(err, CONFHUB_EIO, "cannot write '%s': %s", path, strerror(saved));
    }
    return CONFHUB_OK;
}
