/* SPDX-License-Identifier: MIT */
/* tmpdir.c: see tmpdir.h. */
#include "lib/tmpdir.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ch_test_tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char file[512];

    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
        unlink(file);
    }
    if (d)
        closedir(d);
    return rmdir(dir);
}
