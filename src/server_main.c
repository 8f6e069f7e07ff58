/* SPDX-License-Identifier: MIT */
/*
 * server_main.c: `confhub serve` (argv, start-up, seed, signals, orderly stop) and
 * `confhub migrate status|up`.
 *
 * Start-up order: open the store (migrating it), load it into the model, start the writer,
 * apply the seed if the store was empty, bind the listeners, start the loops. Stop order on
 * SIGTERM/SIGINT: close the listeners, let the writer finish every queued write, answer them,
 * stop the loops, close the store (checkpointing the WAL), exit 0.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/alloc.h"
#include "common/fileio.h"
#include "common/json_util.h"
#include "common/log.h"
#include "common/names.h"
#include "common/timeutil.h"
#include "formats/format.h"
#include "http_server.h"
#include "limits_table.h"
#include "model.h"
#include "reader.h"
#include "server.h"
#include "service.h"
#include "store.h"
#include "txn.h"
#include "watch.h"

#define DEFAULT_LISTEN  "127.0.0.1:8080"
#define DEFAULT_DATA    "./data"
#define MAX_SEED_BYTES  (256u << 20)
#define MAX_SEEDS       64
#define MAX_ORIGINS     32
#define HISTORY_READERS 2 /* threads answering history reads (each has a connection) */

struct serve_opts {
    const char *listen;
    const char *data_dir;
    const char *store_uri;        /* overrides data_dir */
    const char *seeds[MAX_SEEDS]; /* "FILE" or "NS=FILE", in order */
    size_t n_seeds;
    const char *access_log;
    unsigned threads;
    int64_t retention_ms;   /* --history-retention; 0: keep forever */
    int64_t keep_revisions; /* --history-keep-revisions; 0: no count limit */
    bool print_routes;
    bool ws_echo;
    const char *origins[MAX_ORIGINS]; /* --allowed-origin, in order */
    size_t n_origins;
    struct ch_limits limits;
};

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: confhub serve [options]\n"
                 "\n"
                 "Runs the confhub server: REST API /v1 on an embedded SQLite store.\n"
                 "\n"
                 "options:\n"
                 "  --listen ADDR:PORT     address to listen on (default " DEFAULT_LISTEN ")\n"
                 "  --data DIR             data directory; the store is DIR/confhub.db "
                 "(default " DEFAULT_DATA ")\n"
                 "  --store sqlite:PATH    the store, instead of --data\n"
                 "  --threads N            event-loop threads (default: one per core)\n"
                 "  --seed [NS=]FILE       a JSON, YAML or TOML document (by extension) loaded\n"
                 "                         into namespace NS (default 'default'); repeatable;\n"
                 "                         all seeds go in one revision, and only when the\n"
                 "                         store is empty at start\n"
                 "  --history-retention DURATION\n"
                 "                         drop history events older than DURATION (90s, 12h,\n"
                 "                         30d; default 0: keep all history)\n"
                 "  --history-keep-revisions N\n"
                 "                         keep the history of the newest N revisions only\n"
                 "                         (default 0: no limit)\n"
                 "  --log-level LEVEL      debug, info, warn or error (default info)\n"
                 "  --log-format FORMAT    text or json (default text)\n"
                 "  --access-log PATH      access log file, '-' for stdout (default '-')\n"
                 "  --no-access-log        turn the access log off\n"
                 "  --routes               print the route table and exit\n"
                 "  --allowed-origin ORIGIN\n"
                 "                         let web pages from ORIGIN (http://host:port) write\n"
                 "                         and open WebSockets; repeatable, '*' for any\n"
                 "                         (default: only the server's own pages, and clients\n"
                 "                         that send no Origin, such as programs)\n"
                 "  --enable-ws-echo       serve GET /v1/debug/ws-echo, a WebSocket echo for\n"
                 "                         the RFC 6455 conformance suite (off by default)\n"
                 "  -h, --help             this help\n"
                 "\n"
                 "limits (GET /v1/limits lists them with their values):\n");
    ch_limits_print_help(out);
    fprintf(out, "\nSIGTERM or SIGINT stops the server cleanly: in-flight writes finish, the\n"
                 "store is closed, and the exit code is 0.\n");
}

/* Reads one seed ("FILE" or "NS=FILE") into {"op":"put_namespace","ns":NS,"value":DOC}. */
static enum confhub_status read_seed(const char *spec, const struct ch_limits *limits,
                                     json_t **op_out, struct ch_err *err)
{
    const char *eq = strchr(spec, '=');
    const char *path = spec;
    char ns[300] = "default";
    struct ch_format_opts opts = {.max_depth = limits->max_json_depth};
    enum ch_format fmt = CH_FORMAT_JSON;
    char *text = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    enum confhub_status rc;

    /* NS=FILE, unless the '=' belongs to a path ("./a=b.json" has a '/' before it). */
    if (eq && !memchr(spec, '/', (size_t)(eq - spec)) && eq > spec) {
        if ((size_t)(eq - spec) >= sizeof(ns))
            return ch_err_set(err, CONFHUB_EINVAL, "--seed '%s': namespace name too long", spec);
        snprintf(ns, sizeof(ns), "%.*s", (int)(eq - spec), spec);
        path = eq + 1;
    }
    rc = ch_names_check("--seed namespace", ns, strlen(ns), limits->max_name_bytes, err);
    if (rc != CONFHUB_OK)
        return rc;
    (void)ch_format_from_path(path, &fmt); /* JSON unless the extension says otherwise */
    rc = ch_file_read(path, MAX_SEED_BYTES, &text, &len, err);
    if (rc == CONFHUB_OK)
        rc = ch_format_parse(fmt, path, text, len, &opts, &doc, err);
    ch_free(text);
    if (rc != CONFHUB_OK)
        return rc;
    *op_out = json_pack("{s:s,s:s,s:o}", "op", "put_namespace", "ns", ns, "value", doc);
    if (!*op_out)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot seed: out of memory");
    return CONFHUB_OK;
}

/* Loads every seed in one revision, as one transaction (the store is known to be empty). */
static enum confhub_status apply_seeds(struct ch_service *svc, const char *const *seeds, size_t n,
                                       const struct ch_limits *limits, struct ch_err *err)
{
    json_t *ops = json_array();
    struct ch_txn *txn = NULL;
    struct ch_write *w = NULL;
    enum confhub_status rc = CONFHUB_OK;

    if (!ops)
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot seed: out of memory");
    for (size_t i = 0; i < n && rc == CONFHUB_OK; i++) {
        json_t *op = NULL;
        rc = read_seed(seeds[i], limits, &op, err);
        if (rc == CONFHUB_OK && json_array_append_new(ops, op) != 0)
            rc = ch_err_set(err, CONFHUB_ENOMEM, "cannot seed: out of memory");
    }
    if (rc != CONFHUB_OK) {
        json_decref(ops);
        return rc;
    }
    rc = ch_txn_parse(json_pack("{s:o}", "then", ops), limits, &txn, err);
    if (rc != CONFHUB_OK) {
        char why[sizeof(err->msg)]; /* the message is formatted into the buffer it quotes */
        snprintf(why, sizeof(why), "%s", err->msg);
        return ch_err_set(err, rc, "--seed: %s", why);
    }
    w = ch_write_new(CH_WRITE_TXN);
    if (!w) {
        ch_txn_free(txn);
        return ch_err_set(err, CONFHUB_ENOMEM, "cannot seed: out of memory");
    }
    w->txn = txn;
    snprintf(w->actor, sizeof(w->actor), "seed");
    rc = ch_service_write_sync(svc, w);
    if (rc != CONFHUB_OK)
        ch_err_set(err, rc, "--seed: %s", w->err.msg);
    else
        ch_log(CH_LOG_INFO, "serve", "seeded %zu namespace%s at revision %lld", n,
               n == 1 ? "" : "s", (long long)w->revision);
    ch_write_free(w);
    return rc;
}

static int parse_threads(const char *text, unsigned *out)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < 1 || v > CH_MODEL_MAX_READERS)
        return -1;
    *out = (unsigned)v;
    return 0;
}

enum {
    OPT_LISTEN = 256,
    OPT_DATA,
    OPT_STORE,
    OPT_THREADS,
    OPT_SEED,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_ACCESS_LOG,
    OPT_NO_ACCESS_LOG,
    OPT_ROUTES,
    OPT_WS_ECHO,
    OPT_ALLOWED_ORIGIN,
    OPT_RETENTION,
    OPT_KEEP_REVISIONS,
    OPT_HELP,
    OPT_LIMIT
};

/* An --allowed-origin value: "*", or what a browser sends as Origin (RFC 6454): a scheme,
 * "://", a host and an optional port, nothing after them. */
static bool origin_valid(const char *s)
{
    const char *host = strstr(s, "://");
    if (strcmp(s, "*") == 0)
        return true;
    if (!host || host == s || !host[3])
        return false;
    for (const char *p = host + 3; *p; p++)
        if (*p == '/' || *p == '?' || *p == '#' || *p == '@' || *p <= ' ')
            return false;
    return true;
}

/* Parses serve's argv into o. Returns -1 to exit 0 (help), 1 on a usage error, 0 to run. */
static int parse_serve_args(int argc, char **argv, struct serve_opts *o)
{
    struct option longopts[48];
    size_t n = 0;
    static const struct option fixed[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"data", required_argument, NULL, OPT_DATA},
        {"store", required_argument, NULL, OPT_STORE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"history-retention", required_argument, NULL, OPT_RETENTION},
        {"history-keep-revisions", required_argument, NULL, OPT_KEEP_REVISIONS},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
        {"no-access-log", no_argument, NULL, OPT_NO_ACCESS_LOG},
        {"routes", no_argument, NULL, OPT_ROUTES},
        {"enable-ws-echo", no_argument, NULL, OPT_WS_ECHO},
        {"allowed-origin", required_argument, NULL, OPT_ALLOWED_ORIGIN},
        {"help", no_argument, NULL, OPT_HELP},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        longopts[n++] = fixed[i];
    /* Every limit row is a flag of its own (STYLE B6). */
    for (size_t i = 0; i < ch_limit_rows_count && n < 47; i++)
        longopts[n++] =
            (struct option){ch_limit_rows[i].name, required_argument, NULL, OPT_LIMIT + (int)i};
    longopts[n] = (struct option){0};

    optind = 1;
    opterr = 0;
    for (;;) {
        int idx = 0, c = getopt_long(argc, argv, "h", longopts, &idx);
        struct ch_err err;
        enum ch_log_level level;
        if (c == -1)
            break;
        ch_err_clear(&err);
        switch (c) {
        case OPT_LISTEN:
            o->listen = optarg;
            break;
        case OPT_DATA:
            o->data_dir = optarg;
            break;
        case OPT_STORE:
            o->store_uri = optarg;
            break;
        case OPT_THREADS:
            if (parse_threads(optarg, &o->threads) != 0) {
                fprintf(stderr, "confhub serve: --threads '%s': expected 1..%d\n", optarg,
                        CH_MODEL_MAX_READERS);
                return 1;
            }
            break;
        case OPT_SEED:
            if (o->n_seeds == MAX_SEEDS) {
                fprintf(stderr, "confhub serve: more than %d --seed files\n", MAX_SEEDS);
                return 1;
            }
            o->seeds[o->n_seeds++] = optarg;
            break;
        case OPT_RETENTION:
            if (!ch_time_parse_duration(optarg, &o->retention_ms)) {
                fprintf(stderr,
                        "confhub serve: --history-retention '%s': expected a duration such as "
                        "90s, 12h or 30d (0 keeps all history)\n",
                        optarg);
                return 1;
            }
            break;
        case OPT_KEEP_REVISIONS: {
            char *end = NULL;
            long long keep = strtoll(optarg, &end, 10);
            if (!*optarg || *end || keep < 0) {
                fprintf(stderr,
                        "confhub serve: --history-keep-revisions '%s': expected a count "
                        "(0 for no limit)\n",
                        optarg);
                return 1;
            }
            o->keep_revisions = keep;
            break;
        }
        case OPT_LOG_LEVEL:
            if (!ch_log_parse_level(optarg, &level)) {
                fprintf(stderr,
                        "confhub serve: --log-level '%s': expected debug, info, warn "
                        "or error\n",
                        optarg);
                return 1;
            }
            ch_log_min_level = level;
            break;
        case OPT_LOG_FORMAT:
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "confhub serve: --log-format '%s': expected text or json\n",
                        optarg);
                return 1;
            }
            ch_log_set_json(strcmp(optarg, "json") == 0);
            break;
        case OPT_ACCESS_LOG:
            o->access_log = optarg;
            break;
        case OPT_NO_ACCESS_LOG:
            o->access_log = NULL;
            break;
        case OPT_ROUTES:
            o->print_routes = true;
            break;
        case OPT_WS_ECHO:
            o->ws_echo = true;
            break;
        case OPT_ALLOWED_ORIGIN:
            if (!origin_valid(optarg)) {
                fprintf(stderr,
                        "confhub serve: --allowed-origin '%s': expected '*' or an origin such "
                        "as http://app.example.com:8443 (scheme, host, optional port; no path)\n",
                        optarg);
                return 1;
            }
            if (o->n_origins == MAX_ORIGINS) {
                fprintf(stderr, "confhub serve: at most %d --allowed-origin flags\n", MAX_ORIGINS);
                return 1;
            }
            o->origins[o->n_origins++] = optarg;
            break;
        case 'h':
        case OPT_HELP:
            serve_usage(stdout);
            return -1;
        case '?':
            fprintf(stderr,
                    "confhub serve: unknown or incomplete option '%s'; see 'confhub "
                    "serve --help'\n",
                    argv[optind - 1]);
            return 1;
        default:
            if (c >= OPT_LIMIT && ch_limits_set(&o->limits, &ch_limit_rows[c - OPT_LIMIT], optarg,
                                                &err) != CONFHUB_OK) {
                fprintf(stderr, "confhub serve: %s\n", err.msg);
                return 1;
            }
            break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "confhub serve: unexpected argument '%s'; see 'confhub serve --help'\n",
                argv[optind]);
        return 1;
    }
    return 0;
}

/* Raises the open-file limit to what --max-connections needs (one descriptor per connection,
 * plus the store, listeners and loops), up to the hard limit: the usual soft limit of 1024
 * would make accept() fail long before 10,000 connections. Warns when the hard limit is
 * lower, naming what the server can then really hold. */
static void raise_fd_limit(const struct ch_limits *limits, unsigned threads)
{
    rlim_t spare = 64 + 4 * (rlim_t)threads, want = (rlim_t)limits->max_connections + spare;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
        ch_log(CH_LOG_WARN, "serve",
               "open-file limit is %llu (hard limit %llu): about %llu connections can be open, "
               "not --max-connections %zu; raise the limit (ulimit -n, LimitNOFILE=)",
               (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
               (unsigned long long)(rl.rlim_cur > spare ? rl.rlim_cur - spare : 0),
               limits->max_connections);
}

/* Builds the store URI from --store or --data, creating the data directory. */
static enum confhub_status store_uri(const char *store, const char *data_dir, char *out,
                                     size_t out_len, struct ch_err *err)
{
    if (store) {
        snprintf(out, out_len, "%s", store);
        return CONFHUB_OK;
    }
    if (mkdir(data_dir, 0750) != 0 && errno != EEXIST)
        return ch_err_set(err, CONFHUB_EIO, "cannot create data directory '%s': %s", data_dir,
                          strerror(errno));
    snprintf(out, out_len, "sqlite:%s/confhub.db", data_dir);
    return CONFHUB_OK;
}

int ch_server_serve_main(int argc, char **argv)
{
    struct serve_opts o = {.listen = DEFAULT_LISTEN, .data_dir = DEFAULT_DATA, .access_log = "-"};
    struct ch_store_options sopts = {.migrate = true, .create = true};
    struct ch_store *store = NULL;
    struct ch_model *model = NULL;
    struct ch_service *svc = NULL;
    struct ch_http_server *http = NULL;
    struct ch_watch_hub *hub = NULL;
    struct ch_reader *reader = NULL;
    struct ch_err err;
    char uri[4096];
    sigset_t sigs;
    int sig = 0, exit_code = 1, rc;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    ch_err_clear(&err);
    ch_limits_init(&o.limits);
    o.threads = cores > 0 && cores <= CH_MODEL_MAX_READERS ? (unsigned)cores : 2;
    rc = parse_serve_args(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : 1;
    if (o.print_routes) {
        ch_http_print_routes(stdout);
        return 0;
    }
    ch_alloc_install_jansson();

    /* Threads inherit this mask: only the main thread takes the stop signals, in sigwait. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_fd_limit(&o.limits, o.threads);
    if (store_uri(o.store_uri, o.data_dir, uri, sizeof(uri), &err) != CONFHUB_OK ||
        ch_store_open(uri, &sopts, &store, &err) != CONFHUB_OK ||
        ch_model_new(o.threads, &model, &err) != CONFHUB_OK ||
        ch_service_new(store, model, &o.limits, &svc, &err) != CONFHUB_OK ||
        ch_watch_hub_new(&hub, &err) != CONFHUB_OK)
        goto done;
    ch_service_on_commit(svc, ch_watch_hub_publish, hub);
    ch_service_set_retention(svc, o.retention_ms, o.keep_revisions);
    if (ch_service_start(svc, &err) != CONFHUB_OK ||
        ch_reader_start(uri, HISTORY_READERS, &reader, &err) != CONFHUB_OK)
        goto done;
    if (o.n_seeds && ch_service_loaded_revision(svc) == 0) {
        if (apply_seeds(svc, o.seeds, o.n_seeds, &o.limits, &err) != CONFHUB_OK)
            goto done;
    } else if (o.n_seeds) {
        ch_log(CH_LOG_INFO, "serve", "store is not empty (revision %lld): --seed not applied",
               (long long)ch_service_loaded_revision(svc));
    }
    struct ch_http_config hc = {.listen = o.listen,
                                .threads = o.threads,
                                .access_log = o.access_log,
                                .store_name = store->ops->name,
                                .watch_hub = hub,
                                .ws_echo = o.ws_echo,
                                .allowed_origins = o.origins,
                                .n_allowed_origins = o.n_origins,
                                .reader = reader};

    if (ch_http_server_new(&hc, svc, model, &o.limits, &http, &err) != CONFHUB_OK ||
        ch_http_server_start(http, &err) != CONFHUB_OK)
        goto done;
    ch_log(CH_LOG_INFO, "serve", "listening on http://%s (%u threads, store %s, revision %lld)",
           o.listen, o.threads, uri, (long long)ch_model_revision(model));

    sigwait(&sigs, &sig);
    ch_log(CH_LOG_INFO, "serve", "%s received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ch_http_server_stop_listening(http);
    ch_service_stop(svc);
    ch_reader_stop(reader); /* answers what is queued, while the loops still run */
    ch_http_server_shutdown(http, 5000);
    exit_code = 0;
done:
    if (exit_code != 0)
        fprintf(stderr, "confhub serve: %s\n", err.msg);
    ch_service_stop(svc);
    ch_reader_stop(reader);
    ch_http_server_free(http);
    ch_reader_free(reader);
    ch_service_free(svc);
    ch_watch_hub_free(hub);
    ch_store_close(store);
    ch_model_free(model);
    if (exit_code == 0)
        ch_log(CH_LOG_INFO, "serve", "stopped cleanly");
    return exit_code;
}

/* ---------------------------------------------------------------- migrate */

static void migrate_usage(FILE *out)
{
    fprintf(out, "usage: confhub migrate status|up [--data DIR | --store sqlite:PATH]\n"
                 "\n"
                 "  status   print the database's schema version and the newest this binary "
                 "knows\n"
                 "  up       apply every pending migration (serve also does this on start)\n");
}

int ch_server_migrate_main(int argc, char **argv)
{
    const char *data_dir = DEFAULT_DATA, *store = NULL, *action = NULL;
    struct ch_store_options sopts = {.migrate = false, .create = false};
    struct ch_store *st = NULL;
    struct ch_err err;
    char uri[4096];
    int current = 0, latest = 0, exit_code = 1;

    ch_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--store") == 0) && i + 1 < argc) {
            if (argv[i][2] == 'd')
                data_dir = argv[++i];
            else
                store = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            migrate_usage(stdout);
            return 0;
        } else if (!action && argv[i][0] != '-') {
            action = argv[i];
        } else {
            fprintf(stderr, "confhub migrate: unexpected argument '%s'\n", argv[i]);
            migrate_usage(stderr);
            return 1;
        }
    }
    if (!action || (strcmp(action, "status") != 0 && strcmp(action, "up") != 0)) {
        migrate_usage(stderr);
        return 1;
    }
    sopts.create = strcmp(action, "up") == 0;
    if (store_uri(store, data_dir, uri, sizeof(uri), &err) != CONFHUB_OK ||
        ch_store_open(uri, &sopts, &st, &err) != CONFHUB_OK ||
        ch_store_schema(st, &current, &latest, &err) != CONFHUB_OK)
        goto done;
    if (strcmp(action, "up") == 0 && current < latest) {
        if (ch_store_migrate(st, &err) != CONFHUB_OK)
            goto done;
        printf("migrated %s from schema version %d to %d\n", uri, current, latest);
    } else if (strcmp(action, "up") == 0) {
        printf("%s is up to date (schema version %d)\n", uri, current);
    } else {
        printf("store: %s\nschema version: %d\nlatest known: %d\npending migrations: %d\n", uri,
               current, latest, latest > current ? latest - current : 0);
    }
    exit_code = 0;
done:
    if (exit_code != 0)
        fprintf(stderr, "confhub migrate: %s\n", err.msg);
    ch_store_close(st);
    return exit_code;
}
