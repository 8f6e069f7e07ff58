/* SPDX-License-Identifier: MIT */
/*
 * wsproto.c: RFC 6455 framing for the server side (see wsproto.h). The sections of the RFC
 * each rule comes from are named where the rule is applied.
 */
#include "wsproto.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/alloc.h"
#include "common/names.h"

/* One frame's header as it came in (RFC 6455 section 5.2). */
struct frame {
    bool fin;
    uint8_t rsv; /* the three reserved bits; no extension is negotiated, so they must be 0 */
    uint8_t op;
    bool masked;
    uint8_t mask[4];
    uint64_t len;    /* payload bytes */
    size_t head_len; /* header bytes, mask included */
};

void ch_wsproto_reader_init(struct ch_wsproto_reader *r, size_t max_message)
{
    memset(r, 0, sizeof(*r));
    r->max_message = max_message;
}

void ch_wsproto_reader_free(struct ch_wsproto_reader *r)
{
    ch_free(r->msg);
    ch_wsproto_reader_init(r, r->max_message);
}

/* ---------------------------------------------------------------- reading */

static enum ch_wsproto_result fail(struct ch_wsproto_event *ev, uint16_t code, const char *why)
{
    ev->code = code;
    ev->reason = why;
    return CH_WSPROTO_FAIL;
}

static uint64_t read_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Parses the header at p[0..n); false until all of it has arrived. */
static bool parse_header(const uint8_t *p, size_t n, struct frame *f)
{
    size_t at = 2;
    if (n < 2)
        return false;
    f->fin = p[0] & 0x80;
    f->rsv = p[0] & 0x70;
    f->op = p[0] & 0x0f;
    f->masked = p[1] & 0x80;
    f->len = p[1] & 0x7f;
    if (f->len == 126 || f->len == 127) {
        size_t width = f->len == 126 ? 2 : 8;
        if (n < at + width)
            return false;
        f->len = read_be(p + at, width);
        at += width;
    }
    if (f->masked) {
        if (n < at + 4)
            return false;
        memcpy(f->mask, p + at, 4);
        at += 4;
    }
    f->head_len = at;
    return true;
}

static bool is_control(uint8_t op)
{
    return op & 0x8;
}

/* Why the frame breaks the rules, or NULL; *code is the close code to fail with. */
static const char *check_header(const struct ch_wsproto_reader *r, const struct frame *f,
                                uint16_t *code)
{
    *code = CH_WSPROTO_CLOSE_PROTOCOL;
    if (f->rsv)
        return "protocol error: reserved bits set"; /* 5.2: no extension was negotiated */
    if (!f->masked)
        return "protocol error: client frames must be masked"; /* 5.1 */
    if (f->len >> 63)
        return "protocol error: bad payload length"; /* 5.2: the top bit must be 0 */
    if (is_control(f->op)) {
        if (f->op != CH_WSPROTO_OP_CLOSE && f->op != CH_WSPROTO_OP_PING &&
            f->op != CH_WSPROTO_OP_PONG)
            return "protocol error: reserved opcode";
        if (!f->fin || f->len > CH_WSPROTO_CONTROL_MAX) /* 5.5 */
            return "protocol error: control frames are unfragmented and at most 125 bytes";
        return NULL;
    }
    if (f->op > CH_WSPROTO_OP_BINARY)
        return "protocol error: reserved opcode";
    if (f->op == CH_WSPROTO_OP_CONTINUATION && !r->msg_op) /* 5.4 */
        return "protocol error: continuation frame without a message";
    if (f->op != CH_WSPROTO_OP_CONTINUATION && r->msg_op)
        return "protocol error: new message inside a fragmented one";
    /* The limit is checked on the header, before a byte of the payload is kept. */
    if (f->len > r->max_message - r->msg_len) {
        *code = CH_WSPROTO_CLOSE_TOO_BIG;
        return "message too big";
    }
    return NULL;
}

/* True when the frame carries text (a text frame, or a continuation of a text message). */
static bool is_text(const struct ch_wsproto_reader *r, const struct frame *f)
{
    return f->op == CH_WSPROTO_OP_TEXT ||
           (f->op == CH_WSPROTO_OP_CONTINUATION && r->msg_op == CH_WSPROTO_OP_TEXT);
}

static bool close_code_valid(unsigned code)
{
    /* 7.4.1: the codes defined for use in a close frame; 7.4.2: 3000-4999 for libraries and
     * applications. 1005, 1006 and 1015 are for reporting only, never sent. */
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

/* A complete close frame: its code and reason, or why it is not valid (5.5.1). */
static enum ch_wsproto_result read_close(char *payload, size_t len, struct ch_wsproto_event *ev)
{
    if (len == 0)
        return CH_WSPROTO_CLOSE; /* no code: ev->code stays 0 */
    if (len == 1)
        return fail(ev, CH_WSPROTO_CLOSE_PROTOCOL, "protocol error: close frame of one byte");
    ev->code = (uint16_t)read_be((const uint8_t *)payload, 2);
    if (!close_code_valid(ev->code))
        return fail(ev, CH_WSPROTO_CLOSE_PROTOCOL, "protocol error: invalid close code");
    if (!ch_names_utf8_valid(payload + 2, len - 2))
        return fail(ev, CH_WSPROTO_CLOSE_PROTOCOL, "protocol error: close reason is not UTF-8");
    ev->data = payload + 2;
    ev->len = len - 2;
    return CH_WSPROTO_CLOSE;
}

/* Appends a fragment to the message in progress, growing its buffer (at most max_message). */
static bool append_fragment(struct ch_wsproto_reader *r, const char *p, size_t len)
{
    if (len == 0)
        return true; /* empty fragments are allowed, and allocate nothing */
    if (r->msg_len + len > r->msg_cap) {
        size_t cap = r->msg_cap ? r->msg_cap : 256;
        while (cap < r->msg_len + len)
            cap *= 2;
        if (cap > r->max_message)
            cap = r->max_message; /* still enough: check_header kept the total under it */
        char *grown = ch_realloc(r->msg, cap);
        if (!grown)
            return false;
        r->msg = grown;
        r->msg_cap = cap;
    }
    memcpy(r->msg + r->msg_len, p, len);
    r->msg_len += len;
    return true;
}

/* A complete data frame: a whole message, or one more fragment of one (5.4). */
static enum ch_wsproto_result read_data(struct ch_wsproto_reader *r, const struct frame *f,
                                        char *payload, struct ch_wsproto_event *ev)
{
    bool text = is_text(r, f);
    if (f->fin && text && r->utf8.need)
        return fail(ev, CH_WSPROTO_CLOSE_BAD_DATA, "text is not UTF-8: it ends inside a character");
    if (f->fin && !r->msg_op) {
        /* A message in one frame: handed out where it lies. */
        ev->op = f->op;
        ev->data = payload;
        ev->len = (size_t)f->len;
        return CH_WSPROTO_MESSAGE;
    }
    if (!append_fragment(r, payload, (size_t)f->len))
        return fail(ev, CH_WSPROTO_CLOSE_INTERNAL, "out of memory");
    if (!r->msg_op)
        r->msg_op = f->op;
    if (!f->fin)
        return CH_WSPROTO_NONE;
    ev->op = r->msg_op;
    ev->data = r->msg ? r->msg : "";
    ev->len = r->msg_len;
    r->msg_op = 0;
    r->msg_done = true; /* freed on the next read, once the caller is done with it */
    return CH_WSPROTO_MESSAGE;
}

/* Unmasks payload[from..to) in place: byte i of a payload is XORed with mask[i % 4] (5.3). */
static void unmask(char *payload, size_t from, size_t to, const uint8_t *mask)
{
    for (size_t i = from; i < to; i++)
        payload[i] = (char)(payload[i] ^ mask[i & 3]);
}

enum ch_wsproto_result ch_wsproto_read(struct ch_wsproto_reader *r, char *buf, size_t len,
                                       size_t *used, struct ch_wsproto_event *ev)
{
    struct frame f;
    uint16_t code;
    const char *why;

    *used = 0;
    memset(ev, 0, sizeof(*ev));
    ev->data = "";
    if (r->msg_done) {
        ch_free(r->msg);
        r->msg = NULL;
        r->msg_len = r->msg_cap = 0;
        r->msg_done = false;
    }
    if (!parse_header((const uint8_t *)buf, len, &f))
        return CH_WSPROTO_NONE;
    if ((why = check_header(r, &f, &code)) != NULL)
        return fail(ev, code, why);
    /* Unmask and check what has arrived of the payload, beyond what earlier calls did. */
    char *payload = buf + f.head_len;
    size_t have = len - f.head_len < f.len ? len - f.head_len : (size_t)f.len;
    if (r->checked == 0 && f.op == CH_WSPROTO_OP_TEXT)
        memset(&r->utf8, 0, sizeof(r->utf8)); /* a new text message */
    unmask(payload, r->checked, have, f.mask);
    if (is_text(r, &f) && !ch_names_utf8_feed(&r->utf8, payload + r->checked, have - r->checked))
        return fail(ev, CH_WSPROTO_CLOSE_BAD_DATA, "text is not UTF-8");
    r->checked = have;
    if (have < f.len)
        return CH_WSPROTO_NONE;
    *used = f.head_len + have;
    r->checked = 0;
    if (!is_control(f.op))
        return read_data(r, &f, payload, ev);
    ev->op = f.op;
    if (f.op == CH_WSPROTO_OP_CLOSE)
        return read_close(payload, have, ev);
    ev->data = payload;
    ev->len = have;
    return f.op == CH_WSPROTO_OP_PING ? CH_WSPROTO_PING : CH_WSPROTO_PONG;
}

/* ---------------------------------------------------------------- writing */

size_t ch_wsproto_header(uint8_t *out, enum ch_wsproto_op op, uint64_t len)
{
    size_t width = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
    out[0] = (uint8_t)(0x80 | op); /* FIN: the server sends every message in one frame */
    out[1] = (uint8_t)(width == 0 ? len : width == 2 ? 126 : 127);
    for (size_t i = 0; i < width; i++)
        out[2 + i] = (uint8_t)(len >> (8 * (width - 1 - i)));
    return 2 + width;
}

size_t ch_wsproto_close_payload(char *out, uint16_t code, const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;
    if (!code)
        return 0;
    out[0] = (char)(code >> 8);
    out[1] = (char)(code & 0xff);
    if (n > CH_WSPROTO_CONTROL_MAX - 2) {
        n = CH_WSPROTO_CONTROL_MAX - 2;
        while (n && ((unsigned char)reason[n] & 0xc0) == 0x80)
            n--; /* do not cut a character in two */
    }
    if (n)
        memcpy(out + 2, reason, n);
    return 2 + n;
}

bool ch_wsproto_accept_key(const char *key, size_t key_len, char *out)
{
    /* 4.2.2: base64(SHA-1(key + this GUID)). */
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char text[CH_WSPROTO_KEY_LEN + sizeof(guid) - 1];
    unsigned char digest[SHA_DIGEST_LENGTH];

    if (key_len != CH_WSPROTO_KEY_LEN)
        return false;
    memcpy(text, key, key_len);
    memcpy(text + key_len, guid, sizeof(guid) - 1);
    if (!SHA1(text, sizeof(text), digest))
        return false;
    return EVP_EncodeBlock((unsigned char *)out, digest, sizeof(digest)) == CH_WSPROTO_ACCEPT_LEN;
}
