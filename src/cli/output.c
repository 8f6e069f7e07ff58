/* SPDX-License-Identifier: MIT */
/*
 * output.c: JSON and text printers for the CLI (see output.h).
 *
 * We write JSON ourselves instead of using json_dumpf because jansson prints reals with 17
 * significant digits, which turns a stored 0.1 into 0.10000000000000001 on screen.
 */
#include "cli/output.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/timeutil.h"

static void write_string(FILE *f, const char *s, size_t len)
{
    size_t i;

    fputc('"', f);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

/* The shortest %.*g form of d that strtod reads back exactly, kept recognisably a real. */
static void write_real(FILE *f, double d)
{
    char buf[64];
    int precision;

    if (!isfinite(d)) {
        fputs("null", f); /* JSON has no Inf/NaN; jansson never produces them either */
        return;
    }
    for (precision = 1; precision <= 17; precision++) {
        snprintf(buf, sizeof(buf), "%.*g", precision, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    fputs(buf, f);
    if (!strpbrk(buf, ".eEn"))
        fputs(".0", f);
}

static void newline_indent(FILE *f, int indent, int depth)
{
    if (indent <= 0)
        return;
    fprintf(f, "\n%*s", indent * depth, "");
}

static void write_json(FILE *f, const json_t *v, int indent, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *member;
        bool first = true;

        if (json_object_size(v) == 0) {
            fputs("{}", f);
            break;
        }
        fputc('{', f);
        /* json_object_foreach takes a non-const object; it does not modify it. */
        json_object_foreach((json_t *)v, key, member)
        {
            if (!first)
                fputc(',', f);
            first = false;
            newline_indent(f, indent, depth + 1);
            write_string(f, key, strlen(key));
            fputs(indent > 0 ? ": " : ":", f);
            write_json(f, member, indent, depth + 1);
        }
        newline_indent(f, indent, depth);
        fputc('}', f);
        break;
    }
    case JSON_ARRAY: {
        size_t i;

        if (json_array_size(v) == 0) {
            fputs("[]", f);
            break;
        }
        fputc('[', f);
        for (i = 0; i < json_array_size(v); i++) {
            if (i > 0)
                fputc(',', f);
            newline_indent(f, indent, depth + 1);
            write_json(f, json_array_get(v, i), indent, depth + 1);
        }
        newline_indent(f, indent, depth);
        fputc(']', f);
        break;
    }
    case JSON_STRING:
        write_string(f, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        write_real(f, json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_NULL:
        fputs("null", f);
        break;
    }
}

void ch_cli_output_json(FILE *f, const json_t *v, int indent)
{
    write_json(f, v, indent, 0);
}

void ch_cli_output_value(FILE *f, const json_t *v)
{
    if (json_is_string(v))
        fwrite(json_string_value(v), 1, json_string_length(v), f);
    else
        write_json(f, v, json_is_object(v) || json_is_array(v) ? 2 : 0, 0);
    fputc('\n', f);
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* OUT: *keys_out is obj's member names sorted bytewise (borrowed from obj; the caller frees
 * the array with ch_free). Returns false when out of memory. */
static bool sorted_keys(const json_t *obj, const char ***keys_out, size_t *n_out)
{
    size_t n = json_object_size(obj);
    const char **keys = ch_malloc((n ? n : 1) * sizeof(*keys));
    const char *key;
    json_t *member;
    size_t i = 0;

    if (!keys)
        return false;
    json_object_foreach((json_t *)obj, key, member)
    {
        (void)member;
        keys[i++] = key;
    }
    qsort(keys, i, sizeof(*keys), compare_keys);
    *keys_out = keys;
    *n_out = i;
    return true;
}

json_t *ch_cli_output_sorted_names(const json_t *obj)
{
    const char **keys = NULL;
    json_t *names = NULL;
    size_t n = 0, i;

    if (!sorted_keys(obj, &keys, &n))
        goto done;
    names = json_array();
    for (i = 0; names && i < n; i++) {
        if (json_array_append_new(names, json_string(keys[i])) != 0) {
            json_decref(names);
            names = NULL;
        }
    }
done:
    ch_free(keys);
    return names;
}

/* One line of a listing: "key = <compact JSON>", or just "key" when value is NULL. */
static void print_member(FILE *f, const char *key, const json_t *value)
{
    if (!value) {
        fprintf(f, "%s\n", key);
        return;
    }
    fprintf(f, "%s = ", key);
    write_json(f, value, 0, 0);
    fputc('\n', f);
}

/* Prints "key = value" lines (values) or "key" lines, sorted bytewise. */
static void print_members(FILE *f, const json_t *obj, bool values)
{
    const char **keys = NULL;
    size_t n = 0;
    const char *key;
    json_t *member;

    if (!sorted_keys(obj, &keys, &n)) {
        /* Out of memory for a pointer array: print unsorted rather than nothing. */
        json_object_foreach((json_t *)obj, key, member)
        {
            print_member(f, key, values ? member : NULL);
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        print_member(f, keys[i], values ? json_object_get(obj, keys[i]) : NULL);
    ch_free(keys);
}

void ch_cli_output_entries(FILE *f, const json_t *obj)
{
    print_members(f, obj, true);
}

void ch_cli_output_names(FILE *f, const json_t *obj)
{
    print_members(f, obj, false);
}

bool ch_cli_output_use_color(enum ch_cli_color when, int fd)
{
    const char *no_color, *term;

    if (when != CH_CLI_COLOR_AUTO)
        return when == CH_CLI_COLOR_ALWAYS;
    no_color = getenv("NO_COLOR");
    term = getenv("TERM");
    if (no_color && no_color[0])
        return false;
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(fd) == 1;
}

/* One line of a dry run's listing, sortable by target. */
struct change {
    const char *section; /* borrowed from the answer */
    const char *key;     /* borrowed; NULL for a whole section */
    char sign;           /* '+', '~' or '-' */
    const char *sgr;     /* the colour of its line */
    const json_t *entry; /* the answer's entry */
};

static int compare_changes(const void *a, const void *b)
{
    const struct change *x = a, *y = b;
    int c = strcmp(x->section, y->section);

    if (c != 0)
        return c;
    if (!x->key || !y->key)
        return x->key ? 1 : y->key ? -1 : 0;
    return strcmp(x->key, y->key);
}

bool ch_cli_output_changes(FILE *f, const json_t *answer, bool color, size_t counts[3])
{
    static const struct {
        const char *member;
        char sign;
        const char *sgr; /* its colour */
    } groups[] = {{"added", '+', CH_CLI_SGR_GREEN},
                  {"changed", '~', CH_CLI_SGR_YELLOW},
                  {"removed", '-', CH_CLI_SGR_RED}};
    struct change *changes;
    size_t n = 0, total = 0, g, i;

    for (g = 0; g < 3; g++)
        total += json_array_size(json_object_get(answer, groups[g].member));
    changes = ch_malloc((total ? total : 1) * sizeof(*changes));
    if (!changes)
        return false;
    for (g = 0; g < 3; g++) {
        const json_t *list = json_object_get(answer, groups[g].member);
        counts[g] = json_array_size(list);
        for (i = 0; i < json_array_size(list); i++) {
            const json_t *entry = json_array_get(list, i);
            const char *section = json_string_value(json_object_get(entry, "section"));
            changes[n].section = section ? section : "?";
            changes[n].key = json_string_value(json_object_get(entry, "key"));
            changes[n].sign = groups[g].sign;
            changes[n].sgr = groups[g].sgr;
            changes[n].entry = entry;
            n++;
        }
    }
    qsort(changes, n, sizeof(*changes), compare_changes);
    for (i = 0; i < n; i++) {
        const struct change *c = &changes[i];
        if (color)
            fputs(c->sgr, f);
        fprintf(f, "%c %s%s%s", c->sign, c->section, c->key ? "/" : "", c->key ? c->key : "");
        if (c->sign == '+') {
            fputs(" = ", f);
            write_json(f, json_object_get(c->entry, "value"), 0, 0);
        } else if (c->sign == '~') {
            fputs(": ", f);
            write_json(f, json_object_get(c->entry, "old"), 0, 0);
            fputs(" -> ", f);
            write_json(f, json_object_get(c->entry, "new"), 0, 0);
        }
        if (color)
            fputs(CH_CLI_SGR_RESET, f);
        fputc('\n', f);
    }
    ch_free(changes);
    return true;
}

const char *ch_cli_output_member_text(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "?";
}

void ch_cli_output_change(FILE *f, const json_t *event)
{
    const json_t *old = json_object_get(event, "old_value");

    if (old)
        write_json(f, old, 0, 0);
    else
        fputs("(none)", f);
    fputs(" -> ", f);
    if (strcmp(ch_cli_output_member_text(event, "op"), "delete") == 0)
        fputs("(deleted)", f);
    else
        write_json(f, json_object_get(event, "new_value"), 0, 0);
}

void ch_cli_output_event_time(const json_t *event, char *out, size_t out_len)
{
    const char *stamp = json_string_value(json_object_get(event, "timestamp"));
    int64_t ms;

    if (stamp && ch_time_parse_rfc3339(stamp, strlen(stamp), &ms)) {
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(out, out_len, "%Y-%m-%d %H:%M:%S", &tm);
    } else {
        snprintf(out, out_len, "%s", stamp ? stamp : "?");
    }
}

void ch_cli_output_event_line(FILE *f, const json_t *event)
{
    const json_t *rev = json_object_get(event, "revision");
    char time[40];

    ch_cli_output_event_time(event, time, sizeof(time));
    fprintf(f, "%lld  %s  ", json_is_integer(rev) ? (long long)json_integer_value(rev) : -1LL,
            time);
    ch_cli_output_cell(f, ch_cli_output_member_text(event, "actor"), 0);
    fputs("  ", f);
    ch_cli_output_cell(f, ch_cli_output_member_text(event, "op"), 0);
    fputs("  ", f);
    ch_cli_output_cell(f, ch_cli_output_member_text(event, "section"), 0);
    fputc('/', f);
    ch_cli_output_cell(f, ch_cli_output_member_text(event, "key"), 0);
    fputs("  ", f);
    ch_cli_output_change(f, event);
    fputc('\n', f);
}

size_t ch_cli_output_text_width(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    }
    return n;
}

void ch_cli_output_cell(FILE *f, const char *s, size_t width)
{
    size_t n;

    for (n = 0; s[n]; n++)
        fputc((unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n], f);
    for (n = ch_cli_output_text_width(s); n < width; n++)
        fputc(' ', f);
}
