/* SPDX-License-Identifier: MIT */
/*
 * main.c: `confhub <command>`: option parsing, the command table, help and exit codes.
 *
 * Options may appear anywhere on the line (before or after the command and its arguments), so
 * parsing is one pass over argv that splits options from positional arguments; the first
 * positional argument is the command. "--" ends the options, and an argument that looks like a
 * negative number ("-5") is positional, because no option is a digit. Every failure ends up as
 * one "confhub: what: why" line on stderr and an exit code from exit_code().
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "common/alloc.h"

#define DEFAULT_SERVER    "http://127.0.0.1:8080"
#define DEFAULT_NAMESPACE "default"

/* Exit codes; documented in the top-level help and docs/cli.md. */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,     /* bad command line, or the server rejected the request as invalid */
    EXIT_NOT_FOUND = 2, /* 404 */
    EXIT_CONFLICT = 3,  /* 412 (--if-match did not match), or txn's conditions failed */
    EXIT_FAILURE_ = 4,  /* cannot reach the server, 5xx, or anything unexpected */
    EXIT_COMPACTED = 5, /* 410: the revision asked for is older than the history kept */
};

/*
 * Options that only some commands take, as bits: a command lists the ones it accepts, and
 * giving any other is a usage error, so an option is never silently ignored (-n on txn would
 * otherwise look as if it chose the namespace). --server and --help apply everywhere.
 */
enum {
    OPTF_NAMESPACE = 1u << 0, /* -n */
    OPTF_OUTPUT = 1u << 1,    /* -o: text|json, or export's FILE */
    OPTF_JSON = 1u << 2,      /* --json */
    OPTF_IF_MATCH = 1u << 3,
    OPTF_STRING = 1u << 4,
    OPTF_FORMAT = 1u << 5,
    OPTF_MERGE = 1u << 6,
    OPTF_DRY_RUN = 1u << 7,
    OPTF_PRETTY = 1u << 8,
    OPTF_NAMESPACES = 1u << 9,
    OPTF_REVISION = 1u << 10, /* --revision: get, ls, export at a past revision */
    OPTF_LIMIT = 1u << 11,    /* history's filters, --limit to --asc */
    OPTF_SINCE = 1u << 12,
    OPTF_UNTIL = 1u << 13,
    OPTF_ACTOR = 1u << 14,
    OPTF_OP = 1u << 15,
    OPTF_PREFIX = 1u << 16,
    OPTF_FROM_REV = 1u << 17,
    OPTF_TO_REV = 1u << 18,
    OPTF_ASC = 1u << 19,
    OPTF_TO = 1u << 20, /* rollback --to */
    OPTF_YES = 1u << 21,
    OPTF_COLOR = 1u << 22,
    OPTF_REV = 1u << 23, /* watch --rev: start after R */
    OPTF_EXEC = 1u << 24,
    OPTF_COUNT = 1u << 25,
    OPTF_COUNT_ = 26,
    OPTF_READ = OPTF_NAMESPACE | OPTF_OUTPUT | OPTF_JSON, /* what get and ls take */
    OPTF_ANY = (1u << OPTF_COUNT_) - 1,
};

/* How each OPTF_ bit is named in "option '...' does not apply to CMD", in bit order. */
static const char *const optf_names[OPTF_COUNT_] = {
    "-n/--namespace", "-o/--output", "--json",   "--if-match",   "--string",   "--format",
    "--merge",        "--dry-run",   "--pretty", "--namespaces", "--revision", "--limit",
    "--since",        "--until",     "--actor",  "--op",         "--prefix",   "--from-rev",
    "--to-rev",       "--asc",       "--to",     "--yes",        "--color",    "--rev",
    "--exec",         "--count",
};

struct command {
    const char *name;
    ch_cli_cmd_fn *fn; /* NULL for commands main.c handles itself (help, version) */
    size_t min_args;   /* positional arguments after the command name */
    size_t max_args;
    unsigned opts;     /* OPTF_ bits of the options the command takes */
    bool output_file;  /* -o names a FILE to write, not the output format (export) */
    const char *usage; /* the synopsis after "confhub " */
    const char *summary;
    const char *details; /* shown by `confhub help COMMAND`: description and examples */
};

/* clang-format off */
static const struct command commands[] = {
    {"get", ch_cli_cmd_get, 1, 2, OPTF_READ | OPTF_REVISION, false,
     "get SECTION [KEY] [--revision R]",
     "print a value: confhub get SECTION [KEY]",
     "Prints the value of KEY in SECTION. A string prints raw (no quotes), an object or an\n"
     "array as JSON indented by 2, anything else as JSON (42, true, null). Without KEY, prints\n"
     "every key of the section as 'key = <json>' lines sorted by key; a section that holds a\n"
     "single list or scalar prints that value. With -o json, prints the server's answer; for a\n"
     "key that is {\"value\":...,\"create_revision\":N,\"mod_revision\":N,\"version\":N}.\n"
     "With --revision R, prints the key or section as it was at revision R (exit 2 when it did\n"
     "not exist then, 5 when R is older than the history the server keeps); -o json then\n"
     "prints {\"value\":...,\"revision\":R} for a key.\n"
     "\n"
     "Examples:\n"
     "  confhub get app port\n"
     "  confhub get app                    # every key of section app\n"
     "  confhub get -n staging db url\n"
     "  confhub get app port -o json       # value and revisions\n"
     "  confhub get app port --revision 12 # the value at revision 12\n"},
    {"put", ch_cli_cmd_put, 3, 3, OPTF_READ | OPTF_IF_MATCH | OPTF_STRING, false,
     "put SECTION KEY VALUE",
     "set a value: confhub put SECTION KEY VALUE",
     "Sets KEY in SECTION to VALUE, creating the section (and namespace) as needed. VALUE is\n"
     "taken as JSON when it parses (8080, true, null, [1,2], {\"a\":1}, \"quoted\") and as a\n"
     "string otherwise (hello, my value); --string always makes it a string. VALUE '-' reads\n"
     "the value from stdin (a string read this way loses one trailing newline). A VALUE that\n"
     "starts with '-' must follow '--'. With --if-match REV the write happens only if the key's\n"
     "mod_revision is REV (exit 3 otherwise). Prints 'created|updated|unchanged SECTION/KEY\n"
     "(revision R)'; with -o json, the server's answer.\n"
     "\n"
     "Examples:\n"
     "  confhub put app port 8080\n"
     "  confhub put app name 'my service'\n"
     "  confhub put app zip 01234 --string  # keep the leading zero\n"
     "  confhub put app limits '{\"cpu\": 2, \"memory\": \"1Gi\"}'\n"
     "  confhub put app offset -- -5\n"
     "  confhub put app cert - < cert.pem\n"
     "  confhub put app port 8081 --if-match 12\n"},
    {"del", ch_cli_cmd_del, 1, 2, OPTF_READ | OPTF_IF_MATCH, false, "del SECTION [KEY]",
     "delete a key or a section: confhub del SECTION [KEY]",
     "Deletes KEY from SECTION, or the whole SECTION when KEY is absent. With --if-match REV\n"
     "the delete happens only if the target's mod_revision is REV (exit 3 otherwise). Prints\n"
     "'deleted SECTION[/KEY] (revision R)'; with -o json, the server's answer.\n"
     "\n"
     "Examples:\n"
     "  confhub del app port\n"
     "  confhub del app\n"
     "  confhub del app port --if-match 12\n"},
    {"ls", ch_cli_cmd_ls, 0, 1, OPTF_READ | OPTF_REVISION, false, "ls [SECTION] [--revision R]",
     "list sections, or the keys of a section: confhub ls [SECTION]",
     "Without SECTION, lists the sections of the namespace; with SECTION, lists its keys. One\n"
     "name per line, sorted bytewise. A section that holds a single list or scalar has no keys\n"
     "and lists nothing. With -o json, prints a JSON array of the names. --revision R lists\n"
     "them as they were at revision R.\n"
     "\n"
     "Examples:\n"
     "  confhub ls\n"
     "  confhub ls app\n"
     "  confhub ls -n staging -o json\n"
     "  confhub ls --revision 12\n"},
    {"txn", ch_cli_cmd_txn, 1, 1, OPTF_OUTPUT | OPTF_JSON, false, "txn FILE|-",
     "apply a transaction: confhub txn FILE|-",
     "Sends the JSON transaction in FILE ('-' reads stdin) to the server, which applies it\n"
     "atomically: when every condition in \"if\" holds the \"then\" operations run, otherwise\n"
     "the \"else\" operations do, all in one revision. Prints 'succeeded (revision R)' or\n"
     "'conditions failed (revision R)', then one line per operation result, such as\n"
     "'put default/app/port: changed'; with -o json, the server's answer. Exits 0 when the\n"
     "conditions held, 3 when they failed (the else branch ran), 1 when the transaction is\n"
     "invalid (not JSON, HTTP 400, or too many operations: 413), 2 when an operation's target\n"
     "does not exist (nothing is changed then).\n"
     "\n"
     "A transaction is {\"if\":[COND...], \"then\":[OP...], \"else\":[OP...]}, each part optional:\n"
     "  COND {\"section\":\"app\",\"key\":\"port\",\"mod_revision\":5,\"op\":\"==\"}: exactly one of\n"
     "       mod_revision, version, value or exists; op is ==, !=, < or > (default ==)\n"
     "  OP   {\"op\":\"put\",\"section\":\"app\",\"key\":\"port\",\"value\":8080}; also delete,\n"
     "       put_section, delete_section, put_namespace, delete_namespace\n"
     "Every COND and OP takes \"ns\" (default: default); -n does not apply. See docs/cli.md.\n"
     "\n"
     "Examples:\n"
     "  confhub txn change.json\n"
     "  echo '{\"then\":[{\"op\":\"put\",\"section\":\"app\",\"key\":\"port\",\"value\":1}]}' |\n"
     "    confhub txn -\n"
     "  confhub txn cas.json -o json\n"},
    {"import", ch_cli_cmd_import, 1, 1,
     OPTF_NAMESPACE | OPTF_OUTPUT | OPTF_JSON | OPTF_FORMAT | OPTF_MERGE | OPTF_DRY_RUN |
         OPTF_NAMESPACES,
     false, "import FILE|- [--merge] [--dry-run] [--format json|yaml|toml] [--namespaces A,B,...]",
     "load a document into a namespace: confhub import FILE|-",
     "Loads the document in FILE ('-' reads stdin) into the namespace (-n NS) in one revision.\n"
     "The server parses it. The format is --format, else FILE's extension (.json, .yaml, .yml,\n"
     "or .toml); stdin needs --format. By default the document replaces the namespace: keys it\n"
     "does not hold are removed. --merge only adds and changes keys. --dry-run changes nothing\n"
     "and lists what would change: '+ section/key = value', '~ section/key: old -> new' and\n"
     "'- section/key'. Prints 'imported FILE into NS: A added, C changed, R removed (revision\n"
     "R)'; with -o json, the server's answer. A parse error prints 'FILE:LINE:COL: why' and\n"
     "exits 1. A file over 1 MiB shows a progress bar while it uploads, when stderr is a\n"
     "terminal. A YAML stream of several documents is refused unless --namespaces names one\n"
     "namespace per document (A,B,...): all of them are then replaced in one revision.\n"
     "\n"
     "Examples:\n"
     "  confhub import config.yaml --dry-run\n"
     "  confhub import config.yaml\n"
     "  confhub import -n staging extra.toml --merge\n"
     "  cat config.json | confhub import - --format json\n"
     "  confhub import envs.yaml --namespaces staging,production\n"},
    {"export", ch_cli_cmd_export, 0, 0,
     OPTF_NAMESPACE | OPTF_OUTPUT | OPTF_FORMAT | OPTF_PRETTY | OPTF_REVISION, true,
     "export [-o FILE] [--format json|yaml|toml] [--pretty] [--revision R]",
     "write a namespace as a document: confhub export [-o FILE]",
     "Writes the whole namespace (-n NS) as one document, to stdout or, with -o FILE, to FILE.\n"
     "The format is --format, else FILE's extension (.json, .yaml, .yml, .toml), else json.\n"
     "--pretty asks the server for indented output. FILE is written to a temporary file that\n"
     "is then renamed over it, so a failure never leaves half a file; 'exported NS to FILE\n"
     "(revision R)' is printed. Exits 2 when the namespace does not exist. --revision R\n"
     "writes the namespace as it was at revision R.\n"
     "\n"
     "Examples:\n"
     "  confhub export > default.json\n"
     "  confhub export -n staging -o staging.yaml\n"
     "  confhub export --format toml\n"
     "  confhub export --pretty -o backup.json\n"
     "  confhub export --revision 12 -o before.json\n"},
    {"history", ch_cli_cmd_history, 0, 2,
     OPTF_NAMESPACE | OPTF_OUTPUT | OPTF_JSON | OPTF_LIMIT | OPTF_SINCE | OPTF_UNTIL | OPTF_ACTOR |
         OPTF_OP | OPTF_PREFIX | OPTF_FROM_REV | OPTF_TO_REV | OPTF_ASC,
     false,
     "history [SECTION [KEY]] [--limit N] [--since T] [--until T] [--actor A]\n"
     "               [--op set|delete] [--prefix P] [--from-rev R] [--to-rev R] [--asc]",
     "show who changed what, when: confhub history [SECTION [KEY]]",
     "Lists the changes to the namespace (-n NS), to SECTION, or to one KEY, newest first\n"
     "(--asc: oldest first), one line per changed key: revision, time (UTC), actor, op (set or\n"
     "delete), section/key, and 'old -> new' as compact JSON (a delete shows 'old -> (deleted)').\n"
     "On a terminal the last column is cut to the window's width; piped, nothing is cut.\n"
     "--limit N prints at most N events (default 100; 0: all of them), fetching as many pages\n"
     "as it takes; when the default cut the list short, a note on stderr says so. --since\n"
     "and --until take an RFC 3339 time (2026-11-23T08:00:00Z), a date (2026-11-23, midnight\n"
     "UTC) or a duration before now (90s, 30m, 12h, 2d). --actor A and --op set|delete\n"
     "filter; --prefix P keeps sections whose name starts with P (not with SECTION);\n"
     "--from-rev/--to-rev bound the revisions (inclusive). -o json prints one JSON object per\n"
     "line, one line per event, as the server gives them. Exit 5 when --from-rev is older\n"
     "than the history kept.\n"
     "\n"
     "Examples:\n"
     "  confhub history\n"
     "  confhub history app port --limit 10\n"
     "  confhub history --since 1h --actor alice\n"
     "  confhub history --prefix feature --op delete\n"
     "  confhub history --limit 0 -o json | jq -r .key\n"},
    {"diff", ch_cli_cmd_diff, 1, 4, OPTF_NAMESPACE | OPTF_OUTPUT | OPTF_JSON | OPTF_COLOR, false,
     "diff R1 [R2] [SECTION [KEY]] [--color auto|always|never]",
     "show what changed between two revisions: confhub diff R1 [R2]",
     "Shows how the namespace (-n NS), SECTION or KEY changed from revision R1 to revision R2\n"
     "(default: now), like git diff: per section a '--- ns/section  revision R1' and a\n"
     "'+++ ns/section  revision R2' header, then '-key = old' and '+key = new' lines (values\n"
     "as compact JSON). On a terminal, removed lines are red and added ones green, unless\n"
     "NO_COLOR is set; --color always|never overrides. The second argument is R2 when it is a\n"
     "number, else SECTION (a section named by digits needs R2 written out). No differences\n"
     "print nothing; the exit code is 0 either way. -o json prints the server's answer.\n"
     "\n"
     "Examples:\n"
     "  confhub diff 12              # from revision 12 to now\n"
     "  confhub diff 12 15 app\n"
     "  confhub diff 12 app port\n"
     "  confhub diff 12 --color always | less -R\n"},
    {"rollback", ch_cli_cmd_rollback, 0, 2,
     OPTF_NAMESPACE | OPTF_OUTPUT | OPTF_JSON | OPTF_TO | OPTF_DRY_RUN | OPTF_YES | OPTF_COLOR,
     false, "rollback --to R [SECTION [KEY]] [--dry-run] [--yes]",
     "put things back as they were at a revision: confhub rollback --to R",
     "Sets the namespace (-n NS), SECTION or KEY back to what it was at revision R, in one new\n"
     "revision: keys are added, changed and removed as needed (history is kept; nothing is\n"
     "erased). --dry-run lists what would change and changes nothing: '+ section/key = value',\n"
     "'~ section/key: old -> new', '- section/key'. Otherwise, on a terminal, the list is shown\n"
     "and 'Roll back ... to revision R? [y/N]' asks first; --yes skips the question. When stdin\n"
     "is not a terminal, --yes is required (exit 1 without it). If the changes to make are no\n"
     "longer those shown when you answer, nothing is done (exit 3). Prints 'rolled back NS to\n"
     "revision R: A added, C changed, D removed (revision N)'; with -o json, the server's\n"
     "answer. Exit 5 when R is older than the history kept, 1 for a future R.\n"
     "\n"
     "Examples:\n"
     "  confhub rollback --to 12 --dry-run\n"
     "  confhub rollback --to 12              # asks first\n"
     "  confhub rollback --to 12 app port --yes\n"
     "  confhub rollback -n staging --to 40 db --yes -o json\n"},
    {"watch", ch_cli_cmd_watch, 0, 2,
     OPTF_NAMESPACE | OPTF_OUTPUT | OPTF_JSON | OPTF_PREFIX | OPTF_REV | OPTF_EXEC | OPTF_COUNT,
     false, "watch [SECTION [KEY]] [--prefix P] [--rev R] [--count N] [--exec CMD]",
     "print changes as they happen: confhub watch [SECTION [KEY]]",
     "Prints every change to the namespace (-n NS), to SECTION, or to one KEY as it happens,\n"
     "one line per changed key: revision, time (UTC), actor, op, section/key and 'old -> new'\n"
     "as in history. -o json prints the server's event objects, one per line, flushed per\n"
     "revision (for jq). --prefix P watches the sections whose name starts with P. Without\n"
     "--rev the watch starts now (the namespace must exist); --rev R prints every change after\n"
     "revision R first, from history. When the connection drops, it reconnects (waiting 0.1 s\n"
     "doubling to 10 s, with jitter) and resumes after the last revision it handled, so no\n"
     "change is missed or shown twice; only a first connection that fails is an error (exit\n"
     "4). --count N exits after N events. --exec CMD runs '/bin/sh -c CMD' after each revision\n"
     "and waits for it (runs never overlap): the revision's events are on its stdin as\n"
     "{\"revision\":R,\"events\":[...]}, and CONFHUB_REVISION, CONFHUB_NS and CONFHUB_EVENTS\n"
     "(the count) are set; for a single event also CONFHUB_SECTION, CONFHUB_KEY, CONFHUB_OP,\n"
     "CONFHUB_ACTOR, CONFHUB_VALUE and CONFHUB_OLD_VALUE (a string raw, else JSON; unset when\n"
     "there is none). A non-zero exit of CMD is reported on stderr and the watch goes on.\n"
     "Ctrl-C or SIGTERM ends the watch with exit 0. Exit 5 when R is older than the history\n"
     "the server keeps, 2 when the namespace does not exist (without --rev).\n"
     "\n"
     "Examples:\n"
     "  confhub watch\n"
     "  confhub watch app port\n"
     "  confhub watch --prefix feature -o json | jq -r .key\n"
     "  confhub watch app --rev 12 --count 5\n"
     "  confhub watch app --exec 'echo \"$CONFHUB_KEY is now $CONFHUB_VALUE\"'\n"},
    {"help", NULL, 0, 1, OPTF_ANY, false, "help [COMMAND]",
     "show help for a command: confhub help COMMAND",
     "Shows the list of commands, or the details and examples of one command.\n"
     "\n"
     "Examples:\n"
     "  confhub help put\n"
     "  confhub put --help\n"},
    {"version", NULL, 0, 0, OPTF_ANY, false, "version",
     "print the version",
     "Prints 'confhub " CONFHUB_VERSION_STRING "'.\n"},
};

/* Commands that src/main.c sends elsewhere (the server, the offline tools); listed in help
 * only. */
static const char *const server_commands[][2] = {
    {"serve", "run the server (confhub serve --help)"},
    {"migrate", "show or apply database migrations (confhub migrate status|up --data DIR)"},
    {"convert", "convert a document offline (confhub convert FILE --to json|yaml|toml)"},
    {"debug", "the parsers, for conformance suites (confhub debug --help)"},
};

static const char options_help[] =
    "Options (before or after the command):\n"
    "  -n, --namespace NS   namespace to use (default: default)\n"
    "      --server URL     server to talk to (default: $CONFHUB_URL, else " DEFAULT_SERVER ")\n"
    "  -o, --output FORMAT  text (default) or json; export: -o FILE, the file to write\n"
    "      --json           same as -o json\n"
    "      --if-match REV   put/del: only if the target's mod_revision is REV\n"
    "      --string         put: store VALUE as a string even if it parses as JSON\n"
    "      --format F       import/export: json, yaml or toml (default: from the file name)\n"
    "      --merge          import: add and change keys, remove none\n"
    "      --dry-run        import/rollback: list what would change, change nothing\n"
    "      --pretty         export: indented output\n"
    "      --namespaces A,B import: a YAML stream, one namespace per document\n"
    "      --revision R     get/ls/export: as it was at revision R\n"
    "      --limit N        history: at most N events (default 100; 0: all)\n"
    "      --since T        history: from time T (RFC 3339, a date, or a duration: 1h, 2d)\n"
    "      --until T        history: up to time T (same forms as --since)\n"
    "      --actor A        history: changes made by A only\n"
    "      --op OP          history: set or delete only\n"
    "      --prefix P       history/watch: sections whose name starts with P\n"
    "      --from-rev R     history: from revision R (inclusive)\n"
    "      --to-rev R       history: up to revision R (inclusive)\n"
    "      --asc            history: oldest first\n"
    "      --to R           rollback: the revision to go back to\n"
    "  -y, --yes            rollback: do not ask for confirmation\n"
    "      --color WHEN     diff/rollback: auto (default), always or never\n"
    "      --rev R          watch: start after revision R (default: now)\n"
    "      --count N        watch: exit after N events\n"
    "      --exec CMD       watch: run CMD (/bin/sh -c) after each revision\n"
    "  -h, --help           show help\n"
    "      --version        print the version\n"
    "      --               end of options (for a VALUE that starts with '-')\n";

static const char exit_help[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  usage error, or the server rejected the request as invalid (HTTP 400, 413, 415)\n"
    "  2  not found (HTTP 404)\n"
    "  3  condition failed: --if-match did not match (HTTP 412), or txn's conditions failed\n"
    "  4  cannot reach the server, server error (5xx) or any other failure\n"
    "  5  the revision asked for was compacted: older than the history kept (HTTP 410)\n";

/* clang-format on */

/* Everything the command line said, before it becomes a struct ch_cli. */
struct parsed {
    const char **positional; /* owned array; the strings are borrowed from argv */
    size_t n_positional;
    const char *ns;
    const char *server;
    const char *output;   /* -o's value: "text"/"json", or export's FILE; checked later */
    const char *if_match; /* digits */
    const char *format;   /* "json", "yaml" or "toml" */
    unsigned given;       /* OPTF_ bits of the options on the line */
    bool json;            /* --json */
    bool force_string;
    bool merge;
    bool dry_run;
    bool pretty;
    const char *namespaces;
    const char *revision; /* digits */
    const char *limit;    /* digits */
    const char *since;
    const char *until;
    const char *actor;
    const char *op; /* "set" or "delete" */
    const char *prefix;
    const char *from_rev; /* digits */
    const char *to_rev;   /* digits */
    bool asc;
    const char *to; /* digits */
    bool yes;
    enum ch_cli_color color;
    const char *rev;   /* digits */
    const char *exec;  /* watch --exec CMD */
    const char *count; /* digits, not 0 */
    bool help;
    bool version;
};

static void print_top_help(FILE *f)
{
    size_t i;

    fputs("usage: confhub <command> [options] [arguments]\n\nCommands:\n", f);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    for (i = 0; i < sizeof(server_commands) / sizeof(server_commands[0]); i++)
        fprintf(f, "  %-9s %s\n", server_commands[i][0], server_commands[i][1]);
    fprintf(f, "\n%s\n%s\nSee 'confhub help COMMAND' for details and examples.\n", options_help,
            exit_help);
}

static void print_command_help(FILE *f, const struct command *cmd)
{
    fprintf(f, "usage: confhub %s [options]\n\n%s\n%s", cmd->usage, cmd->details, options_help);
}

static const struct command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("confhub: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see 'confhub --help')\n", stderr);
    return EXIT_USAGE;
}

/* The position of the one bit set in flag, to index optf_names. */
static size_t bit_index(unsigned flag)
{
    size_t bit = 0;

    while (bit < OPTF_COUNT_ && !(flag & (1u << bit)))
        bit++;
    return bit;
}

bool ch_cli_is_revision(const char *s)
{
    size_t i;

    if (!s[0] || strlen(s) > 19)
        return false;
    for (i = 0; s[i]; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/*
 * Splits argv into options and positional arguments. Returns EXIT_OK, or EXIT_USAGE after
 * printing why. p->positional must be freed by the caller in both cases.
 */
static int parse_args(int argc, char **argv, struct parsed *p)
{
    enum {
        OPT_NAMESPACE,
        OPT_SERVER,
        OPT_OUTPUT,
        OPT_JSON,
        OPT_IF_MATCH,
        OPT_STRING,
        OPT_FORMAT,
        OPT_MERGE,
        OPT_DRY_RUN,
        OPT_PRETTY,
        OPT_NAMESPACES,
        OPT_REVISION,
        OPT_LIMIT,
        OPT_SINCE,
        OPT_UNTIL,
        OPT_ACTOR,
        OPT_OP,
        OPT_PREFIX,
        OPT_FROM_REV,
        OPT_TO_REV,
        OPT_ASC,
        OPT_TO,
        OPT_YES,
        OPT_COLOR,
        OPT_REV,
        OPT_EXEC,
        OPT_COUNT,
        OPT_HELP,
        OPT_VERSION
    };

    /* clang-format off */
    static const struct {
        const char *long_name;
        int id;          /* OPT_* */
        char short_name; /* 0 when there is no short form */
        bool takes_value;
        unsigned flag;   /* its OPTF_ bit; 0 for options every command takes */
    } options[] = {
        {"namespace", OPT_NAMESPACE, 'n', true,  OPTF_NAMESPACE},
        {"server",    OPT_SERVER,    0,   true,  0},
        {"output",    OPT_OUTPUT,    'o', true,  OPTF_OUTPUT},
        {"json",      OPT_JSON,      0,   false, OPTF_JSON},
        {"if-match",  OPT_IF_MATCH,  0,   true,  OPTF_IF_MATCH},
        {"string",    OPT_STRING,    0,   false, OPTF_STRING},
        {"format",    OPT_FORMAT,    0,   true,  OPTF_FORMAT},
        {"merge",     OPT_MERGE,     0,   false, OPTF_MERGE},
        {"dry-run",   OPT_DRY_RUN,   0,   false, OPTF_DRY_RUN},
        {"pretty",    OPT_PRETTY,    0,   false, OPTF_PRETTY},
        {"namespaces", OPT_NAMESPACES, 0, true,  OPTF_NAMESPACES},
        {"revision",  OPT_REVISION,  0,   true,  OPTF_REVISION},
        {"limit",     OPT_LIMIT,     0,   true,  OPTF_LIMIT},
        {"since",     OPT_SINCE,     0,   true,  OPTF_SINCE},
        {"until",     OPT_UNTIL,     0,   true,  OPTF_UNTIL},
        {"actor",     OPT_ACTOR,     0,   true,  OPTF_ACTOR},
        {"op",        OPT_OP,        0,   true,  OPTF_OP},
        {"prefix",    OPT_PREFIX,    0,   true,  OPTF_PREFIX},
        {"from-rev",  OPT_FROM_REV,  0,   true,  OPTF_FROM_REV},
        {"to-rev",    OPT_TO_REV,    0,   true,  OPTF_TO_REV},
        {"asc",       OPT_ASC,       0,   false, OPTF_ASC},
        {"to",        OPT_TO,        0,   true,  OPTF_TO},
        {"yes",       OPT_YES,       'y', false, OPTF_YES},
        {"color",     OPT_COLOR,     0,   true,  OPTF_COLOR},
        {"rev",       OPT_REV,       0,   true,  OPTF_REV},
        {"exec",      OPT_EXEC,      0,   true,  OPTF_EXEC},
        {"count",     OPT_COUNT,     0,   true,  OPTF_COUNT},
        {"help",      OPT_HELP,      'h', false, 0},
        {"version",   OPT_VERSION,   0,   false, 0},
    };

    /* clang-format on */
    bool only_positional = false;
    int i;

    p->positional = ch_calloc((size_t)argc + 1, sizeof(*p->positional));
    if (!p->positional) {
        fputs("confhub: out of memory\n", stderr);
        return EXIT_FAILURE_;
    }
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        const char *name;
        size_t name_len, k;
        bool is_long;

        if (only_positional || arg[0] != '-' || arg[1] == '\0' || isdigit((unsigned char)arg[1])) {
            p->positional[p->n_positional++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        is_long = arg[1] == '-';
        name = arg + (is_long ? 2 : 1);
        if (is_long) {
            const char *eq = strchr(name, '=');
            name_len = eq ? (size_t)(eq - name) : strlen(name);
            if (eq)
                value = eq + 1;
        } else {
            name_len = 1;
            if (name[1])
                value = name + 1; /* -njson style */
        }
        for (k = 0; k < sizeof(options) / sizeof(options[0]); k++) {
            if (is_long ? strlen(options[k].long_name) == name_len &&
                              strncmp(options[k].long_name, name, name_len) == 0
                        : options[k].short_name == name[0])
                break;
        }
        if (k == sizeof(options) / sizeof(options[0]))
            return usage_error("unknown option '%s'", arg);
        if (options[k].takes_value && !value) {
            if (i + 1 >= argc)
                return usage_error("option '%s' needs a value", arg);
            value = argv[++i];
        } else if (!options[k].takes_value && value) {
            return usage_error("option '%s' takes no value", arg);
        }

        p->given |= options[k].flag;
        switch (options[k].id) {
        case OPT_NAMESPACE:
            p->ns = value;
            break;
        case OPT_SERVER:
            p->server = value;
            break;
        case OPT_OUTPUT:
            p->output = value; /* its meaning depends on the command; see check_options() */
            break;
        case OPT_JSON:
            p->json = true;
            break;
        case OPT_IF_MATCH:
            if (!ch_cli_is_revision(value))
                return usage_error("--if-match wants a revision number, not '%s'", value);
            p->if_match = value;
            break;
        case OPT_STRING:
            p->force_string = true;
            break;
        case OPT_FORMAT:
            if (strcasecmp(value, "json") == 0)
                p->format = "json";
            else if (strcasecmp(value, "yaml") == 0 || strcasecmp(value, "yml") == 0)
                p->format = "yaml";
            else if (strcasecmp(value, "toml") == 0)
                p->format = "toml";
            else
                return usage_error("--format must be json, yaml or toml, not '%s'", value);
            break;
        case OPT_MERGE:
            p->merge = true;
            break;
        case OPT_DRY_RUN:
            p->dry_run = true;
            break;
        case OPT_PRETTY:
            p->pretty = true;
            break;
        case OPT_NAMESPACES:
            p->namespaces = value;
            break;
        case OPT_REVISION:
        case OPT_FROM_REV:
        case OPT_TO_REV:
        case OPT_TO:
        case OPT_LIMIT:
        case OPT_REV:
        case OPT_COUNT:
            if (!ch_cli_is_revision(value) ||
                (options[k].id == OPT_COUNT && strtoll(value, NULL, 10) == 0)) {
                bool count = options[k].id == OPT_LIMIT || options[k].id == OPT_COUNT;
                return usage_error("%s wants a %s, not '%s'",
                                   optf_names[bit_index(options[k].flag)],
                                   options[k].id == OPT_COUNT ? "count of 1 or more"
                                   : count                    ? "count"
                                                              : "revision number",
                                   value);
            }
            if (options[k].id == OPT_REVISION)
                p->revision = value;
            else if (options[k].id == OPT_FROM_REV)
                p->from_rev = value;
            else if (options[k].id == OPT_TO_REV)
                p->to_rev = value;
            else if (options[k].id == OPT_TO)
                p->to = value;
            else if (options[k].id == OPT_REV)
                p->rev = value;
            else if (options[k].id == OPT_COUNT)
                p->count = value;
            else
                p->limit = value;
            break;
        case OPT_SINCE:
            p->since = value;
            break;
        case OPT_UNTIL:
            p->until = value;
            break;
        case OPT_ACTOR:
            p->actor = value;
            break;
        case OPT_OP:
            if (strcmp(value, "set") != 0 && strcmp(value, "delete") != 0)
                return usage_error("--op must be set or delete, not '%s'", value);
            p->op = value;
            break;
        case OPT_PREFIX:
            p->prefix = value;
            break;
        case OPT_ASC:
            p->asc = true;
            break;
        case OPT_YES:
            p->yes = true;
            break;
        case OPT_COLOR:
            if (strcmp(value, "auto") == 0)
                p->color = CH_CLI_COLOR_AUTO;
            else if (strcmp(value, "always") == 0)
                p->color = CH_CLI_COLOR_ALWAYS;
            else if (strcmp(value, "never") == 0)
                p->color = CH_CLI_COLOR_NEVER;
            else
                return usage_error("--color must be auto, always or never, not '%s'", value);
            break;
        case OPT_EXEC:
            p->exec = value;
            break;
        case OPT_HELP:
            p->help = true;
            break;
        default: /* OPT_VERSION */
            p->version = true;
            break;
        }
    }
    return EXIT_OK;
}

/* Checks that cmd takes every option on the line, and what -o means for it. */
static int check_options(const struct command *cmd, const struct parsed *p)
{
    unsigned extra = p->given & ~cmd->opts;
    size_t bit;

    for (bit = 0; bit < OPTF_COUNT_; bit++) {
        if (extra & (1u << bit))
            return usage_error("option %s does not apply to %s", optf_names[bit], cmd->name);
    }
    if (!p->output)
        return EXIT_OK;
    if (cmd->output_file) {
        /* "export -o json" almost certainly means the format, not a file named json. */
        if (strcmp(p->output, "text") == 0 || strcmp(p->output, "json") == 0) {
            return usage_error("%s -o takes a FILE; for the format use --format (a file named "
                               "'%s' is -o ./%s)",
                               cmd->name, p->output, p->output);
        }
    } else if (strcmp(p->output, "text") != 0 && strcmp(p->output, "json") != 0) {
        return usage_error("output format must be text or json, not '%s'", p->output);
    }
    return EXIT_OK;
}

static int exit_code(enum confhub_status status)
{
    switch (status) {
    case CONFHUB_OK:
        return EXIT_OK;
    case CONFHUB_EINVAL:
    case CONFHUB_ETOOBIG:
    case CONFHUB_EMEDIATYPE:
        return EXIT_USAGE;
    case CONFHUB_ENOTFOUND:
        return EXIT_NOT_FOUND;
    case CONFHUB_ECONFLICT:
        return EXIT_CONFLICT;
    case CONFHUB_ECOMPACTED:
        return EXIT_COMPACTED;
    default:
        return EXIT_FAILURE_;
    }
}

static int run_help(const struct parsed *p)
{
    const char *topic = p->n_positional > 1 ? p->positional[1] : NULL;
    const struct command *cmd;
    size_t i;

    if (!topic) {
        print_top_help(stdout);
        return EXIT_OK;
    }
    for (i = 0; i < sizeof(server_commands) / sizeof(server_commands[0]); i++) {
        if (strcmp(topic, server_commands[i][0]) == 0) {
            printf("  %-9s %s\n", server_commands[i][0], server_commands[i][1]);
            return EXIT_OK;
        }
    }
    cmd = find_command(topic);
    if (!cmd)
        return usage_error("no help for unknown command '%s'", topic);
    print_command_help(stdout, cmd);
    return EXIT_OK;
}

/* Runs a network command with the options in p; returns the exit code. */
static int run_command(const struct command *cmd, const struct parsed *p)
{
    struct ch_cli cli = {0};
    struct ch_err err;
    enum confhub_status rc;
    const char *env_url = getenv("CONFHUB_URL");

    ch_err_clear(&err);
    cli.ns = p->ns ? p->ns : DEFAULT_NAMESPACE;
    cli.server = p->server ? p->server : env_url && env_url[0] ? env_url : DEFAULT_SERVER;
    cli.json = p->json || (!cmd->output_file && p->output && strcmp(p->output, "json") == 0);
    cli.force_string = p->force_string;
    cli.if_match = p->if_match;
    cli.out_file = cmd->output_file ? p->output : NULL;
    cli.format = p->format;
    cli.merge = p->merge;
    cli.dry_run = p->dry_run;
    cli.pretty = p->pretty;
    cli.namespaces = p->namespaces;
    cli.revision = p->revision;
    cli.limit = p->limit ? strtoll(p->limit, NULL, 10) : CH_CLI_HISTORY_DEFAULT_LIMIT;
    cli.limit_given = p->limit != NULL;
    cli.since = p->since;
    cli.until = p->until;
    cli.actor = p->actor;
    cli.op = p->op;
    cli.prefix = p->prefix;
    cli.from_rev = p->from_rev;
    cli.to_rev = p->to_rev;
    cli.asc = p->asc;
    cli.to = p->to;
    cli.yes = p->yes;
    cli.color = p->color;
    cli.rev = p->rev;
    cli.exec = p->exec;
    cli.count = p->count ? strtoll(p->count, NULL, 10) : 0;
    cli.args = p->positional + 1;
    cli.n_args = p->n_positional - 1;

    rc = ch_cli_http_new(cli.server, &cli.http, &err);
    if (rc == CONFHUB_OK)
        rc = cmd->fn(&cli, &err);
    ch_cli_http_free(cli.http);
    /* Output that never reached its reader is a failure too (a full disk, a closed pipe). */
    if (fflush(stdout) != 0 && rc == CONFHUB_OK) {
        int saved = errno;
        rc = ch_err_set(&err, CONFHUB_EIO, "cannot write output: %s", strerror(saved));
    }
    if (rc != CONFHUB_OK && err.msg[0])
        fprintf(stderr, "confhub: %s\n", err.msg);
    return exit_code(rc);
}

int ch_cli_main(int argc, char **argv)
{
    struct parsed p = {0};
    const struct command *cmd;
    int code;

    code = parse_args(argc, argv, &p);
    if (code != EXIT_OK)
        goto done;
    if (p.n_positional == 0) {
        if (p.version) {
            printf("confhub %s\n", CONFHUB_VERSION_STRING);
        } else if (p.help) {
            print_top_help(stdout);
        } else {
            print_top_help(stderr);
            code = EXIT_USAGE;
        }
        goto done;
    }

    cmd = find_command(p.positional[0]);
    if (!cmd) {
        code = usage_error("unknown command '%s'", p.positional[0]);
        goto done;
    }
    if (p.help) {
        print_command_help(stdout, cmd);
        goto done;
    }
    if (p.n_positional - 1 < cmd->min_args || p.n_positional - 1 > cmd->max_args) {
        fprintf(stderr, "confhub: %s: wrong number of arguments\nusage: confhub %s [options]\n",
                cmd->name, cmd->usage);
        code = EXIT_USAGE;
        goto done;
    }
    code = check_options(cmd, &p);
    if (code != EXIT_OK)
        goto done;

    if (strcmp(cmd->name, "help") == 0) {
        code = run_help(&p);
    } else if (strcmp(cmd->name, "version") == 0) {
        printf("confhub %s\n", CONFHUB_VERSION_STRING);
    } else {
        /* jansson allocates through ch_malloc like the rest of the CLI (STYLE B5.9). */
        ch_alloc_install_jansson();
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fputs("confhub: cannot initialise libcurl\n", stderr);
            code = EXIT_FAILURE_;
            goto done;
        }
        code = run_command(cmd, &p);
        curl_global_cleanup();
    }
done:
    ch_free(p.positional);
    return code;
}
