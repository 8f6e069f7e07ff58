/* SPDX-License-Identifier: MIT */
/*
 * wsproto.h: RFC 6455 (WebSocket) framing for the server side, with no I/O and no HTTP type:
 * a reader that turns the bytes a client sent into events (a message, a ping, a pong, a close,
 * or the reason to fail the connection), the header of the frames the server sends, the close
 * frame's payload and the handshake's accept key.
 *
 * The reader works in place. It unmasks a payload inside the caller's buffer and hands out a
 * pointer into it, so a message that comes in one frame is never copied; the caller keeps a
 * frame's bytes in the buffer until the reader has consumed them. Only a fragmented message is
 * copied, fragment by fragment, into a buffer the reader allocates when the first fragment is
 * complete and frees once the message has been handed out: an idle reader holds no memory.
 *
 * Text is checked as UTF-8 as its bytes arrive, across fragments and inside a frame that has
 * not fully arrived, so invalid text fails the connection (1007) as soon as the offending byte
 * is in, not at the end of a long message (RFC 6455 section 8.1).
 *
 * A reader belongs to one connection and is used by the thread that owns it.
 */
#ifndef CH_WSPROTO_H
#define CH_WSPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/names.h"

/* Frame opcodes (RFC 6455 section 5.2). */
enum ch_wsproto_op {
    CH_WSPROTO_OP_CONTINUATION = 0x0,
    CH_WSPROTO_OP_TEXT = 0x1,
    CH_WSPROTO_OP_BINARY = 0x2,
    CH_WSPROTO_OP_CLOSE = 0x8,
    CH_WSPROTO_OP_PING = 0x9,
    CH_WSPROTO_OP_PONG = 0xa,
};

/* Close codes the server sends (RFC 6455 section 7.4.1). */
#define CH_WSPROTO_CLOSE_NORMAL     1000
#define CH_WSPROTO_CLOSE_GOING_AWAY 1001
#define CH_WSPROTO_CLOSE_PROTOCOL   1002 /* the peer broke the framing rules */
#define CH_WSPROTO_CLOSE_BAD_DATA   1007 /* text that is not UTF-8 */
#define CH_WSPROTO_CLOSE_POLICY     1008
#define CH_WSPROTO_CLOSE_TOO_BIG    1009 /* a message over the reader's limit */
#define CH_WSPROTO_CLOSE_INTERNAL   1011 /* out of memory, say */

#define CH_WSPROTO_HEADER_MAX  10  /* bytes of a server frame's header (unmasked, 64-bit length) */
#define CH_WSPROTO_CONTROL_MAX 125 /* payload bytes of a control frame */
#define CH_WSPROTO_KEY_LEN     24  /* a Sec-WebSocket-Key: 16 bytes in base64 */
#define CH_WSPROTO_ACCEPT_LEN  28  /* a Sec-WebSocket-Accept: a SHA-1 digest in base64 */

/* What one call of ch_wsproto_read found. */
enum ch_wsproto_result {
    CH_WSPROTO_NONE,    /* no event: feed more bytes (or call again after the used ones) */
    CH_WSPROTO_MESSAGE, /* a whole text or binary message */
    CH_WSPROTO_PING,    /* answer with a pong carrying the same payload */
    CH_WSPROTO_PONG,
    CH_WSPROTO_CLOSE, /* the peer closes: answer with a close frame, then close */
    CH_WSPROTO_FAIL,  /* fail the connection: send a close frame with code and reason */
};

struct ch_wsproto_event {
    enum ch_wsproto_op op; /* MESSAGE: CH_WSPROTO_OP_TEXT or CH_WSPROTO_OP_BINARY */
    /* MESSAGE: the message; PING, PONG: the payload; CLOSE: the reason (UTF-8). Borrowed from
     * the caller's buffer or the reader, valid until the next ch_wsproto_read or until the
     * caller drops the bytes it passed; never NULL. */
    const char *data;
    size_t len;
    uint16_t code;      /* CLOSE: the peer's code, 0 when it gave none; FAIL: the code to send */
    const char *reason; /* FAIL: why, for the close frame (static, ASCII) */
};

/* The state of one connection's incoming side; start it with ch_wsproto_reader_init. */
struct ch_wsproto_reader {
    size_t max_message; /* largest message accepted, in bytes; over it: FAIL 1009 */
    size_t checked;     /* bytes of the current frame's payload unmasked and checked so far */
    uint8_t msg_op;     /* the fragmented message in progress (TEXT or BINARY), 0 when none */
    bool msg_done;      /* msg was handed out: freed on the next read */
    struct ch_names_utf8 utf8; /* the check of the text message in progress */
    char *msg;                 /* the fragments so far (ch_malloc'd), or NULL */
    size_t msg_len, msg_cap;
};

/* Starts a reader that accepts messages up to max_message bytes. */
void ch_wsproto_reader_init(struct ch_wsproto_reader *r, size_t max_message);

/* Frees what r holds (a fragmented message in progress) and resets it. */
void ch_wsproto_reader_free(struct ch_wsproto_reader *r);

/*
 * Reads at most one frame from buf[0..len), which starts at a frame boundary: the first byte
 * the previous calls did not consume. The payload of that frame is unmasked in place, which is
 * why buf is not const; call again with the same unconsumed bytes (and more after them) until
 * the frame is complete. OUT: *used, the bytes consumed, which the caller drops after it has
 * handled *ev; 0 with CH_WSPROTO_NONE means "the frame is not complete: feed more". After
 * CH_WSPROTO_FAIL the connection is over: do not call again.
 */
enum ch_wsproto_result ch_wsproto_read(struct ch_wsproto_reader *r, char *buf, size_t len,
                                       size_t *used, struct ch_wsproto_event *ev);

/* Writes the header of a final, unmasked server frame with len payload bytes into out
 * (CH_WSPROTO_HEADER_MAX bytes of room). Returns the header's length: 2, 4 or 10. */
size_t ch_wsproto_header(uint8_t *out, enum ch_wsproto_op op, uint64_t len);

/* Writes a close frame's payload into out (CH_WSPROTO_CONTROL_MAX bytes of room): the code,
 * then the reason (UTF-8, cut at a character boundary to fit). Code 0 means no code and no
 * reason: an empty payload. Returns the payload's length. */
size_t ch_wsproto_close_payload(char *out, uint16_t code, const char *reason);

/* Computes the Sec-WebSocket-Accept answer to a Sec-WebSocket-Key into out (NUL-terminated,
 * CH_WSPROTO_ACCEPT_LEN + 1 bytes of room). Returns false when the key is not
 * CH_WSPROTO_KEY_LEN bytes long or the digest fails. */
bool ch_wsproto_accept_key(const char *key, size_t key_len, char *out);

#endif
