/* SPDX-License-Identifier: MIT */
/*
 * confhub.h: the public interface of confhub.
 *
 * Today it holds the one status code space that the server, the CLI and (later) libconfhub
 * share, and the version macros. Status codes are append-only: never renumber or reuse one.
 */
#ifndef CONFHUB_H
#define CONFHUB_H

#ifdef __cplusplus
extern "C" {
#endif

#define CONFHUB_API __attribute__((visibility("default")))

#define CONFHUB_VERSION_MAJOR  0
#define CONFHUB_VERSION_MINOR  1
#define CONFHUB_VERSION_PATCH  0
#define CONFHUB_VERSION_STRING "0.1.0"
#define CONFHUB_VERSION_NUM \
    ((CONFHUB_VERSION_MAJOR << 16) | (CONFHUB_VERSION_MINOR << 8) | CONFHUB_VERSION_PATCH)

/* The outcome of every fallible call. 0 is success. Append only. */
enum confhub_status {
    CONFHUB_OK = 0,
    CONFHUB_EINVAL,      /* bad input from the caller or the client */
    CONFHUB_ENOTFOUND,   /* namespace, section or key does not exist */
    CONFHUB_ECONFLICT,   /* a write condition (If-Match, If-None-Match, txn "if") failed */
    CONFHUB_ECOMPACTED,  /* asked for a revision older than the retention horizon */
    CONFHUB_ETOOBIG,     /* a configured limit was hit */
    CONFHUB_ENOMEM,      /* allocation failed; nothing was changed */
    CONFHUB_EIO,         /* storage or OS error; errno text is in the detail */
    CONFHUB_EUNAVAIL,    /* the service cannot take the request now (shutting down, store failed) */
    CONFHUB_EMETHOD,     /* the resource exists but not with this method */
    CONFHUB_EMEDIATYPE,  /* the request body has a media type this route does not take */
    CONFHUB_EVERSION,    /* a file or database was written by a newer confhub */
    CONFHUB_EFORBIDDEN,  /* not allowed from where it came (a WebSocket's Origin) */
    CONFHUB_STATUS_COUNT /* not a status: the number of them */
};

/* A static, lowercase description of status ("not found"); never NULL. */
CONFHUB_API const char *confhub_strerror(int status);

/* The library's version string, such as "0.1.0". */
CONFHUB_API const char *confhub_version(void);

#ifdef __cplusplus
}
#endif
#endif /* CONFHUB_H */
