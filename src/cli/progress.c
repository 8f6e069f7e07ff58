/* SPDX-License-Identifier: MIT */
/* progress.c: the upload progress bar (see progress.h). */
#include "cli/progress.h"

#include <string.h>

void ch_cli_progress_format_size(uint64_t bytes, char *out, size_t out_len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    size_t u = 0;

    if (bytes < 1024) {
        snprintf(out, out_len, "%u B", (unsigned)bytes);
        return;
    }
    v /= 1024.0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, out_len, "%.1f %s", v, units[u]);
}

void ch_cli_progress_update(void *userdata, uint64_t sent, uint64_t total)
{
    struct ch_cli_progress *p = userdata;
    char bar[CH_CLI_PROGRESS_WIDTH + 1];
    char line[sizeof(p->last)];
    char sent_text[32], total_text[32];
    unsigned percent;
    size_t filled, len;
    int n;

    if (total == 0)
        return;
    if (sent > total)
        sent = total;
    /* sent * 100 cannot overflow below UINT64_MAX / 100 bytes; above it, divide first. */
    percent = (unsigned)(total > UINT64_MAX / 100 ? sent / (total / 100) : sent * 100 / total);
    if (percent > 100)
        percent = 100;
    filled = (size_t)percent * CH_CLI_PROGRESS_WIDTH / 100;
    memset(bar, '#', filled);
    memset(bar + filled, ' ', CH_CLI_PROGRESS_WIDTH - filled);
    bar[CH_CLI_PROGRESS_WIDTH] = '\0';
    ch_cli_progress_format_size(sent, sent_text, sizeof(sent_text));
    ch_cli_progress_format_size(total, total_text, sizeof(total_text));
    n = snprintf(line, sizeof(line), "[%s] %3u%% %s/%s", bar, percent, sent_text, total_text);
    if (n < 0)
        return;
    if (strcmp(line, p->last) == 0)
        return; /* nothing visible changed */
    len = strlen(line);
    /* Pad with spaces when the new line is shorter, so no stale characters remain. */
    fprintf(p->f, "\r%s%*s", line, p->width > len ? (int)(p->width - len) : 0, "");
    fflush(p->f);
    memcpy(p->last, line, len + 1);
    if (len > p->width)
        p->width = len;
}

void ch_cli_progress_finish(struct ch_cli_progress *p)
{
    if (p->width == 0)
        return;
    fprintf(p->f, "\r%*s\r", (int)p->width, "");
    fflush(p->f);
    p->last[0] = '\0';
    p->width = 0;
}
