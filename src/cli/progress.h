/* SPDX-License-Identifier: MIT */
/*
 * progress.h: a one-line progress bar for long uploads, drawn on a terminal.
 *
 * The line reads "\r[#########           ]  45% 12.3 MiB/27.0 MiB" and is redrawn in place only
 * when what it shows changes, so a fast transfer does not flood the terminal. The caller
 * decides whether a bar is wanted at all (import draws one for files over 1 MiB when stderr is
 * a terminal); this module only draws. ch_cli_progress_update() has the shape of
 * ch_cli_http_progress_fn, so it plugs straight into struct ch_cli_req.
 */
#ifndef CH_CLI_PROGRESS_H
#define CH_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Width of the bar between the brackets, in characters. */
#define CH_CLI_PROGRESS_WIDTH 20

/* One bar. Zero it, then set f; the struct owns nothing. */
struct ch_cli_progress {
    FILE *f;       /* where to draw (stderr); borrowed */
    char last[96]; /* the line last drawn, without "\r"; empty before the first draw */
    size_t width;  /* the widest line drawn so far, to blank it out; 0 before the first */
};

/* Redraws the bar for sent of total bytes; does nothing while total is 0 (unknown).
 * userdata is a struct ch_cli_progress *. */
void ch_cli_progress_update(void *userdata, uint64_t sent, uint64_t total);

/* Erases the bar (spaces over it, then "\r") if one was drawn, so the next message starts on a
 * clean line. Safe to call when nothing was drawn. */
void ch_cli_progress_finish(struct ch_cli_progress *p);

/* Formats bytes as "512 B", "12.3 KiB", "27.0 MiB" or "1.2 GiB" into out. */
void ch_cli_progress_format_size(uint64_t bytes, char *out, size_t out_len);

#endif
