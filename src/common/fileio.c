/* SPDX-License-Identifier: MIT */
/* fileio.c: see fileio.h. */
#include "common/fileio.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"

#define CHUNK 65536

enum confhub_status ch_file_read(const char *path, size_t max, char **text, size_t *len,
                                 struct ch_err *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const char *shown = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    enum confhub_status rc = CONFHUB_OK;

    if (!f)
        return ch_err_set(err, CONFHUB_EIO, "cannot open '%s': %s", path, strerror(errno));
    for (;;) {
        if (n + CHUNK + 1 > cap) {
            cap = cap ? cap * 2 : CHUNK * 2;
            char *grown = ch_realloc(buf, cap);
            if (!grown) {
                rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot read '%s': out of memory", shown);
                goto done;
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, CHUNK, f);
        n += got;
        if (n > max) {
            rc = ch_err_set(err, CONFHUB_ETOOBIG, "'%s' is larger than %zu bytes", shown, max);
            goto done;
        }
        if (got < CHUNK) {
            if (ferror(f))
                rc = ch_err_set(err, CONFHUB_EIO, "cannot read '%s': %s", shown, strerror(errno));
            break;
        }
    }
done:
    if (!is_stdin)
        fclose(f);
    if (rc != CONFHUB_OK) {
        ch_free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return CONFHUB_OK;
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
