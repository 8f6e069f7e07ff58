/* SPDX-License-Identifier: MIT */
/* test_wsproto.c: the RFC 6455 codec: frames in whole and in pieces, fragmentation with
 * control frames between fragments, every protocol error with its close code, UTF-8 checked
 * as it arrives, the limit, close frames, the server's header and the handshake key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "wsproto.h"

#define FIN 0x80

/* A client frame: first byte b0 (FIN, RSV, opcode), masked with a fixed key. */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t at = 0;
    out[at++] = b0;
    if (len < 126) {
        out[at++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[at++] = 0x80 | 126;
        out[at++] = (uint8_t)(len >> 8);
        out[at++] = (uint8_t)len;
    } else {
        out[at++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[at++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(out + at, key, 4);
    at += 4;
    for (size_t i = 0; i < len; i++)
        out[at + i] = ((const uint8_t *)payload)[i] ^ key[i & 3];
    return at + len;
}

/* Reads every event from buf[0..len) the way a connection does: call, drop what was used. */
struct feed_log {
    enum ch_wsproto_result results[16];
    char data[16][256];
    size_t lens[16];
    uint16_t codes[16];
    size_t n;
    size_t consumed;
};

static void feed(struct ch_wsproto_reader *r, uint8_t *buf, size_t len, struct feed_log *log)
{
    for (;;) {
        struct ch_wsproto_event ev;
        size_t used;
        enum ch_wsproto_result res =
            ch_wsproto_read(r, (char *)buf + log->consumed, len - log->consumed, &used, &ev);
        log->consumed += used;
        if (res == CH_WSPROTO_NONE && used == 0)
            return;
        if (res == CH_WSPROTO_NONE)
            continue;
        assert_true(log->n < 16);
        assert_non_null(ev.data);
        log->results[log->n] = res;
        log->lens[log->n] = ev.len;
        memcpy(log->data[log->n], ev.data, ev.len < 256 ? ev.len : 256);
        log->codes[log->n] = ev.code;
        log->n++;
        if (res == CH_WSPROTO_FAIL)
            return;
    }
}

/* Reads buf[0..len) with a new reader that accepts messages up to max bytes. */
static void read_all(uint8_t *buf, size_t len, size_t max, struct feed_log *log)
{
    struct ch_wsproto_reader r;
    ch_wsproto_reader_init(&r, max);
    feed(&r, buf, len, log);
    ch_wsproto_reader_free(&r);
}

/* Checks event i of log. */
static void expect(const struct feed_log *log, size_t i, enum ch_wsproto_result res, uint16_t code)
{
    assert_true(i < log->n);
    assert_int_equal(log->results[i], res);
    assert_int_equal(log->codes[i], code);
}

/* Two frames read together: the first event fails the connection with code. */
static void two_frames_fail(uint8_t b0, const char *payload, uint8_t b0_next, const char *next,
                            size_t max, uint16_t code)
{
    uint8_t buf[64];
    struct feed_log log = {0};
    size_t len = client_frame(buf, b0, payload, strlen(payload));
    len += client_frame(buf + len, b0_next, next, strlen(next));
    read_all(buf, len, max, &log);
    assert_int_equal(log.n, 1);
    expect(&log, 0, CH_WSPROTO_FAIL, code);
}

/* The one event of a single frame. */
static enum ch_wsproto_result one(uint8_t b0, const void *payload, size_t len, size_t max,
                                  uint16_t *code)
{
    uint8_t buf[512];
    struct feed_log log = {0};
    read_all(buf, client_frame(buf, b0, payload, len), max, &log);
    if (code)
        *code = log.n ? log.codes[0] : 0;
    return log.n ? log.results[0] : CH_WSPROTO_NONE;
}

static void test_wsproto_reads_a_text_frame_in_place(void **state)
{
    uint8_t buf[64];
    struct ch_wsproto_reader r;
    struct ch_wsproto_event ev;
    size_t used, len = client_frame(buf, FIN | CH_WSPROTO_OP_TEXT, "hello", 5);
    (void)state;
    ch_wsproto_reader_init(&r, 100);
    assert_int_equal(ch_wsproto_read(&r, (char *)buf, len, &used, &ev), CH_WSPROTO_MESSAGE);
    assert_int_equal(used, len);
    assert_int_equal(ev.op, CH_WSPROTO_OP_TEXT);
    assert_ptr_equal(ev.data, (char *)buf + 6); /* unmasked where it lay: not copied */
    assert_memory_equal(ev.data, "hello", 5);
    assert_null(r.msg); /* nothing held */
    ch_wsproto_reader_free(&r);
}

static void test_wsproto_waits_for_the_whole_frame(void **state)
{
    uint8_t buf[70000];
    static uint8_t payload[65536];
    struct ch_wsproto_reader r;
    struct ch_wsproto_event ev;
    size_t used;
    (void)state;
    memset(payload, 'x', sizeof(payload));
    size_t len = client_frame(buf, FIN | CH_WSPROTO_OP_BINARY, payload, sizeof(payload));
    assert_int_equal(len, 2 + 8 + 4 + sizeof(payload)); /* the 64-bit length form */
    ch_wsproto_reader_init(&r, sizeof(payload));
    for (size_t have = 0; have < len; have += 997) {
        assert_int_equal(ch_wsproto_read(&r, (char *)buf, have, &used, &ev), CH_WSPROTO_NONE);
        assert_int_equal(used, 0);
    }
    assert_int_equal(ch_wsproto_read(&r, (char *)buf, len, &used, &ev), CH_WSPROTO_MESSAGE);
    assert_int_equal(used, len);
    assert_int_equal(ev.len, sizeof(payload));
    assert_memory_equal(ev.data, payload, sizeof(payload));
    ch_wsproto_reader_free(&r);
}

static void test_wsproto_assembles_fragments_around_a_ping(void **state)
{
    uint8_t buf[256];
    struct feed_log log = {0};
    size_t len = 0;
    (void)state;
    len += client_frame(buf + len, CH_WSPROTO_OP_TEXT, "frag", 4);
    len += client_frame(buf + len, FIN | CH_WSPROTO_OP_PING, "p", 1);
    len += client_frame(buf + len, CH_WSPROTO_OP_CONTINUATION, "", 0);
    len += client_frame(buf + len, FIN | CH_WSPROTO_OP_CONTINUATION, "ment\xce\xba", 6);
    len += client_frame(buf + len, FIN | CH_WSPROTO_OP_TEXT, "next", 4);
    read_all(buf, len, 100, &log);
    assert_int_equal(log.n, 3);
    expect(&log, 0, CH_WSPROTO_PING, 0);
    assert_memory_equal(log.data[0], "p", 1);
    expect(&log, 1, CH_WSPROTO_MESSAGE, 0);
    assert_int_equal(log.lens[1], 10);
    assert_memory_equal(log.data[1], "fragment\xce\xba", 10);
    expect(&log, 2, CH_WSPROTO_MESSAGE, 0);
    assert_memory_equal(log.data[2], "next", 4);
    assert_int_equal(log.consumed, len);
}

static void test_wsproto_empty_fragments_make_an_empty_message(void **state)
{
    uint8_t buf[64];
    struct feed_log log = {0};
    size_t len = client_frame(buf, CH_WSPROTO_OP_TEXT, "", 0);
    (void)state;
    len += client_frame(buf + len, FIN | CH_WSPROTO_OP_CONTINUATION, "", 0);
    read_all(buf, len, 100, &log);
    assert_int_equal(log.n, 1);
    expect(&log, 0, CH_WSPROTO_MESSAGE, 0);
    assert_int_equal(log.lens[0], 0);
}

static void test_wsproto_protocol_errors_fail_with_1002(void **state)
{
    uint16_t code;
    char big[126];
    (void)state;
    memset(big, 'a', sizeof(big));
    assert_int_equal(one(FIN | 0x40 | CH_WSPROTO_OP_TEXT, "x", 1, 100, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002); /* RSV1 without an extension */
    assert_int_equal(one(FIN | 0x3, "", 0, 100, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002); /* reserved data opcode */
    assert_int_equal(one(FIN | 0xb, "", 0, 100, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002); /* reserved control opcode */
    assert_int_equal(one(FIN | CH_WSPROTO_OP_PING, big, sizeof(big), 1000, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002); /* control frame over 125 bytes */
    assert_int_equal(one(CH_WSPROTO_OP_PING, "x", 1, 100, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002); /* fragmented control frame */
    assert_int_equal(one(FIN | CH_WSPROTO_OP_CONTINUATION, "x", 1, 100, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002); /* continuation without a message */
}

static void test_wsproto_rejects_unmasked_and_interleaved_frames(void **state)
{
    uint8_t buf[64] = {FIN | CH_WSPROTO_OP_TEXT, 1, 'x'}; /* no mask bit */
    struct feed_log log = {0};
    (void)state;
    read_all(buf, 3, 100, &log);
    expect(&log, 0, CH_WSPROTO_FAIL, 1002);

    /* A new message while a fragmented one is in progress. */
    two_frames_fail(CH_WSPROTO_OP_TEXT, "a", FIN | CH_WSPROTO_OP_TEXT, "b", 100, 1002);
}

static void test_wsproto_limit_is_checked_on_the_header(void **state)
{
    uint8_t buf[64];
    struct feed_log log = {0};
    uint16_t code;
    (void)state;
    assert_int_equal(one(FIN | CH_WSPROTO_OP_TEXT, "12345", 5, 5, &code), CH_WSPROTO_MESSAGE);
    assert_int_equal(one(FIN | CH_WSPROTO_OP_TEXT, "123456", 6, 5, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1009);
    /* The header alone is enough to refuse: no payload byte has arrived. */
    client_frame(buf, FIN | CH_WSPROTO_OP_BINARY, "123456", 6);
    read_all(buf, 6, 5, &log);
    expect(&log, 0, CH_WSPROTO_FAIL, 1009);
    /* Fragments count together. */
    two_frames_fail(CH_WSPROTO_OP_TEXT, "123", FIN | CH_WSPROTO_OP_CONTINUATION, "456", 5, 1009);
}

static void test_wsproto_utf8_rules(void **state)
{
    static const struct {
        const char *text;
        bool valid;
    } cases[] = {
        {"plain", true},
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true}, /* kosme */
        {"\xf0\x9f\x98\x80", true},                             /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", true},                             /* U+10FFFF */
        {"\xc0\x80", false},                                    /* overlong NUL */
        {"\xe0\x9f\xbf", false},                                /* overlong 3-byte */
        {"\xed\xa0\x80", false},                                /* a surrogate */
        {"\xf4\x90\x80\x80", false},                            /* over U+10FFFF */
        {"\x80", false},                                        /* a lone continuation */
        {"\xf5\x80\x80\x80", false},                            /* lead byte over F4 */
        {"\xce", false},                                        /* ends inside a character */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint16_t code = 0;
        enum ch_wsproto_result res =
            one(FIN | CH_WSPROTO_OP_TEXT, cases[i].text, strlen(cases[i].text), 100, &code);
        assert_int_equal(res, cases[i].valid ? CH_WSPROTO_MESSAGE : CH_WSPROTO_FAIL);
        if (!cases[i].valid)
            assert_int_equal(code, 1007);
        /* Binary is not text: anything goes. */
        res = one(FIN | CH_WSPROTO_OP_BINARY, cases[i].text, strlen(cases[i].text), 100, NULL);
        assert_int_equal(res, CH_WSPROTO_MESSAGE);
    }
}

static void test_wsproto_invalid_text_fails_before_the_frame_ends(void **state)
{
    /* The bad sequence is in the first half of a frame whose second half never comes. */
    static const char bad[] = "\xce\xba\xf4\x90\x80\x80 and more text after it";
    uint8_t buf[128];
    struct ch_wsproto_reader r;
    struct ch_wsproto_event ev;
    size_t used, len = client_frame(buf, FIN | CH_WSPROTO_OP_TEXT, bad, sizeof(bad) - 1);
    (void)state;
    ch_wsproto_reader_init(&r, 100);
    assert_int_equal(ch_wsproto_read(&r, (char *)buf, 6 + 2, &used, &ev), CH_WSPROTO_NONE);
    assert_int_equal(ch_wsproto_read(&r, (char *)buf, 6 + 4, &used, &ev), CH_WSPROTO_FAIL);
    assert_int_equal(ev.code, 1007);
    assert_true(len > 6 + 4);
    ch_wsproto_reader_free(&r);
}

static void test_wsproto_invalid_text_fails_in_the_fragment_that_has_it(void **state)
{
    uint8_t buf[128];
    struct feed_log log = {0};
    size_t len = client_frame(buf, CH_WSPROTO_OP_TEXT, "\xce", 1); /* a character split... */
    (void)state;
    len += client_frame(buf + len, CH_WSPROTO_OP_CONTINUATION, "\xba", 1); /* ...across frames */
    size_t good = len;
    len += client_frame(buf + len, CH_WSPROTO_OP_CONTINUATION, "\xed\xa0\x80", 3);
    len += client_frame(buf + len, FIN | CH_WSPROTO_OP_CONTINUATION, "end", 3);
    read_all(buf, len, 100, &log);
    assert_int_equal(log.n, 1);
    expect(&log, 0, CH_WSPROTO_FAIL, 1007);
    assert_int_equal(log.consumed, good); /* the fragments before it were taken */
}

static void test_wsproto_close_frames(void **state)
{
    uint16_t code;
    uint8_t buf[64];
    struct feed_log log = {0};
    (void)state;
    assert_int_equal(one(FIN | CH_WSPROTO_OP_CLOSE, "", 0, 100, &code), CH_WSPROTO_CLOSE);
    assert_int_equal(code, 0);
    assert_int_equal(one(FIN | CH_WSPROTO_OP_CLOSE, "\x03", 1, 100, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002);
    assert_int_equal(one(FIN | CH_WSPROTO_OP_CLOSE, "\x03\xed", 2, 100, &code), CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002); /* 1005 is never sent */
    assert_int_equal(one(FIN | CH_WSPROTO_OP_CLOSE, "\x0b\xb8", 2, 100, &code), CH_WSPROTO_CLOSE);
    assert_int_equal(code, 3000);
    assert_int_equal(one(FIN | CH_WSPROTO_OP_CLOSE, "\x03\xe8\xed\xa0\x80", 5, 100, &code),
                     CH_WSPROTO_FAIL);
    assert_int_equal(code, 1002); /* a reason that is not UTF-8 */
    read_all(buf, client_frame(buf, FIN | CH_WSPROTO_OP_CLOSE, "\x03\xe9going", 7), 100, &log);
    expect(&log, 0, CH_WSPROTO_CLOSE, 1001);
    assert_int_equal(log.lens[0], 5);
    assert_memory_equal(log.data[0], "going", 5);
}

static void test_wsproto_out_of_memory_fails_with_1011(void **state)
{
    uint8_t buf[64];
    struct feed_log log = {0};
    size_t len = client_frame(buf, CH_WSPROTO_OP_BINARY, "abc", 3); /* a first fragment */
    (void)state;
    ch_alloc_fail_after(0);
    read_all(buf, len, 100, &log);
    ch_alloc_fail_after(-1);
    expect(&log, 0, CH_WSPROTO_FAIL, 1011);
}

static void test_wsproto_server_headers(void **state)
{
    uint8_t h[CH_WSPROTO_HEADER_MAX];
    (void)state;
    assert_int_equal(ch_wsproto_header(h, CH_WSPROTO_OP_TEXT, 125), 2);
    assert_memory_equal(h, "\x81\x7d", 2);
    assert_int_equal(ch_wsproto_header(h, CH_WSPROTO_OP_BINARY, 126), 4);
    assert_memory_equal(h, "\x82\x7e\x00\x7e", 4);
    assert_int_equal(ch_wsproto_header(h, CH_WSPROTO_OP_TEXT, 65535), 4);
    assert_memory_equal(h, "\x81\x7e\xff\xff", 4);
    assert_int_equal(ch_wsproto_header(h, CH_WSPROTO_OP_PONG, 65536), 10);
    assert_memory_equal(h, "\x8a\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
}

static void test_wsproto_close_payload(void **state)
{
    char out[CH_WSPROTO_CONTROL_MAX];
    char reason[200];
    (void)state;
    assert_int_equal(ch_wsproto_close_payload(out, 0, "ignored"), 0);
    assert_int_equal(ch_wsproto_close_payload(out, 1008, "slow"), 6);
    assert_memory_equal(out, "\x03\xf0slow", 6);
    /* Cut to fit, at a character boundary: 2 + 122 bytes, not half of the last character. */
    memset(reason, 'a', 122);
    strcpy(reason + 122, "\xce\xba tail");
    assert_int_equal(ch_wsproto_close_payload(out, 1000, reason), 2 + 122);
}

static void test_wsproto_accept_key(void **state)
{
    char out[CH_WSPROTO_ACCEPT_LEN + 1];
    (void)state;
    /* The example of RFC 6455 section 1.3. */
    assert_true(ch_wsproto_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out));
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_false(ch_wsproto_accept_key("short", 5, out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wsproto_reads_a_text_frame_in_place),
        cmocka_unit_test(test_wsproto_waits_for_the_whole_frame),
        cmocka_unit_test(test_wsproto_assembles_fragments_around_a_ping),
        cmocka_unit_test(test_wsproto_empty_fragments_make_an_empty_message),
        cmocka_unit_test(test_wsproto_protocol_errors_fail_with_1002),
        cmocka_unit_test(test_wsproto_rejects_unmasked_and_interleaved_frames),
        cmocka_unit_test(test_wsproto_limit_is_checked_on_the_header),
        cmocka_unit_test(test_wsproto_utf8_rules),
        cmocka_unit_test(test_wsproto_invalid_text_fails_before_the_frame_ends),
        cmocka_unit_test(test_wsproto_invalid_text_fails_in_the_fragment_that_has_it),
        cmocka_unit_test(test_wsproto_close_frames),
        cmocka_unit_test(test_wsproto_out_of_memory_fails_with_1011),
        cmocka_unit_test(test_wsproto_server_headers),
        cmocka_unit_test(test_wsproto_close_payload),
        cmocka_unit_test(test_wsproto_accept_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
