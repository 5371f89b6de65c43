/* The example HTTP/1.1 request parser (examples/http): head parsing and
 * chunked decoding against RFC 9112's framing rules, split-point
 * invariance and a seeded fuzz loop.
 *
 * Every input is copied into a heap block of exactly its length before it
 * is parsed, so a read past n is an out-of-bounds read under ASan rather
 * than a look at the string literal's NUL. */
#include "harness.h"

#include <string.h>

#include "http.h"

#define LIMIT 8192

/* Parses s[0..n) from an exact-size copy; the pointers in *r are moved
 * back onto s so the caller can compare them. */
static int parse_n(const char *s, size_t n, size_t limit, struct http_req *r)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, s, n);
    memset(r, 0xa5, sizeof *r); /* no field may keep a stale value */
    int rc = http_parse_head(copy, n, limit, r);
    if (rc > 0) {
        assert_true(r->method >= copy && r->method + r->method_len <= copy + n);
        assert_true(r->target >= copy && r->target + r->target_len <= copy + n);
        r->method = s + (r->method - copy);
        r->target = s + (r->target - copy);
    }
    free(copy);
    return rc;
}

static int parse(const char *s, struct http_req *r)
{
    return parse_n(s, strlen(s), LIMIT, r);
}

/* The status alone, for the many "this must be rejected" lines. */
static int status(const char *s)
{
    struct http_req r;
    return parse(s, &r);
}

#define assert_str(p, n, lit)                                                 \
    do {                                                                      \
        assert_int_equal((n), strlen(lit));                                   \
        assert_memory_equal((p), (lit), (n));                                 \
    } while (0)

/* A request with the given version and field lines (each ending CRLF). */
static const char *req11(const char *fields)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "POST /p HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
    return buf;
}

static const char *req10(const char *fields)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "POST /p HTTP/1.0\r\n%s\r\n", fields);
    return buf;
}

CIO_TEST(http_simple_get)
{
    (void)state;
    const char *s = "GET /index.html?q=1 HTTP/1.1\r\n"
                    "Host: example.com\r\n"
                    "User-Agent: test/1.0 (x; y)\r\n"
                    "Accept: */*\r\n"
                    "\r\n";
    struct http_req r;
    assert_int_equal(parse(s, &r), strlen(s));
    assert_int_equal(r.head_len, strlen(s));
    assert_str(r.method, r.method_len, "GET");
    assert_str(r.target, r.target_len, "/index.html?q=1");
    assert_ptr_equal(r.method, s);
    assert_int_equal(r.minor, 1);
    assert_true(r.keep_alive);
    assert_false(r.head);
    assert_false(r.expect_continue);
    assert_int_equal(r.body, HTTP_BODY_NONE);
    assert_int_equal(r.length, 0);
}

CIO_TEST(http_head_method)
{
    (void)state;
    struct http_req r;
    assert_true(parse("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
    assert_true(r.head);
    assert_str(r.method, r.method_len, "HEAD");
    /* Methods are case-sensitive (RFC 9110 section 9.1). */
    assert_true(parse("head / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
    assert_false(r.head);
    assert_true(parse("HEADER / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
    assert_false(r.head);
    assert_true(parse("HEAX / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
    assert_false(r.head);
}

CIO_TEST(http_keep_alive)
{
    (void)state;
    static const struct {
        int minor;
        const char *fields;
        bool keep_alive;
    } cases[] = {
        {1, "", true},
        {0, "", false},
        {1, "Connection: close\r\n", false},
        {1, "connection: CLOSE\r\n", false},
        {0, "Connection: keep-alive\r\n", true},
        {0, "Connection: Keep-Alive\r\n", true},
        {0, "Connection: foo ,\tkeep-alive , bar\r\n", true},
        {0, "Connection: keep-alive, close\r\n", false},
        {1, "Connection: keep-alive\r\n", true},
        {1, "Connection: Upgrade, close\r\n", false},
        {1, "Connection: closed, xclose\r\n", true},
        {1, "Connection: foo\r\nConnection: close\r\n", false},
        {0, "Connection: foo\r\nConnection: keep-alive\r\n", true},
        {0, "Connection: keep-alivex\r\n", false},
        {1, "X-Connection: close\r\n", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_req r;
        const char *s = cases[i].minor ? req11(cases[i].fields)
                                       : req10(cases[i].fields);
        assert_int_equal(parse(s, &r), strlen(s));
        assert_int_equal(r.minor, cases[i].minor);
        if (r.keep_alive != cases[i].keep_alive)
            fail_msg("case %zu (%s): keep_alive %d", i, cases[i].fields,
                     r.keep_alive);
    }
}

CIO_TEST(http_expect_continue)
{
    (void)state;
    struct http_req r;
    assert_true(parse(req11("Expect: 100-continue\r\n"), &r) > 0);
    assert_true(r.expect_continue);
    assert_true(parse(req11("Expect: 100-Continue\r\n"), &r) > 0);
    assert_true(r.expect_continue);
    assert_true(parse(req11("Expect: foo, 100-continue\r\n"), &r) > 0);
    assert_true(r.expect_continue);
    assert_true(parse(req11("Expect: 100-continued\r\n"), &r) > 0);
    assert_false(r.expect_continue);
    /* RFC 9110 section 10.1.1: a 1.0 request's expectation is ignored. */
    assert_true(parse(req10("Expect: 100-continue\r\n"), &r) > 0);
    assert_false(r.expect_continue);
}

CIO_TEST(http_content_length)
{
    (void)state;
    struct http_req r;
    assert_true(parse(req11("Content-Length: 5\r\n"), &r) > 0);
    assert_int_equal(r.body, HTTP_BODY_LENGTH);
    assert_int_equal(r.length, 5);
    assert_true(r.keep_alive);
    assert_true(parse(req11("content-length:0\r\n"), &r) > 0);
    assert_int_equal(r.body, HTTP_BODY_LENGTH);
    assert_int_equal(r.length, 0);
    assert_true(parse(req11("Content-Length: 5, 5 ,5\r\n"), &r) > 0);
    assert_int_equal(r.length, 5);
    assert_true(parse(req11("Content-Length: 7\r\nContent-Length: 7\r\n"),
                      &r) > 0);
    assert_int_equal(r.length, 7);
    assert_true(parse(req11("Content-Length: 18446744073709551615\r\n"),
                      &r) > 0);
    assert_true(r.length == UINT64_MAX);
    assert_true(parse(req10("Content-Length: 3\r\n"), &r) > 0);
    assert_int_equal(r.body, HTTP_BODY_LENGTH);
    assert_int_equal(r.length, 3);

    assert_int_equal(status(req11("Content-Length: 5, 6\r\n")), -400);
    assert_int_equal(
        status(req11("Content-Length: 5\r\nContent-Length: 6\r\n")), -400);
    assert_int_equal(status(req11("Content-Length: abc\r\n")), -400);
    assert_int_equal(status(req11("Content-Length: 5a\r\n")), -400);
    assert_int_equal(status(req11("Content-Length: +5\r\n")), -400);
    assert_int_equal(status(req11("Content-Length: -1\r\n")), -400);
    assert_int_equal(status(req11("Content-Length: 0x10\r\n")), -400);
    assert_int_equal(status(req11("Content-Length: 5 5\r\n")), -400);
    assert_int_equal(status(req11("Content-Length: 5,\r\n")), -400);
    assert_int_equal(status(req11("Content-Length:\r\n")), -400);
    assert_int_equal(status(req11("Content-Length: 18446744073709551616\r\n")),
                     -400);
    assert_int_equal(
        status(req11("Content-Length: 99999999999999999999999999\r\n")), -400);
}

CIO_TEST(http_te_chunked)
{
    (void)state;
    struct http_req r;
    assert_true(parse(req11("Transfer-Encoding: chunked\r\n"), &r) > 0);
    assert_int_equal(r.body, HTTP_BODY_CHUNKED);
    assert_true(r.keep_alive);
    assert_true(parse(req11("transfer-encoding:  Chunked \r\n"), &r) > 0);
    assert_int_equal(r.body, HTTP_BODY_CHUNKED);
    assert_true(parse(req11("Transfer-Encoding: chunked,\r\n"), &r) > 0);
    assert_int_equal(r.body, HTTP_BODY_CHUNKED);
    /* With Content-Length too: framed by TE, connection closed after. */
    assert_true(parse(req11("Content-Length: 10\r\n"
                            "Transfer-Encoding: chunked\r\n"), &r) > 0);
    assert_int_equal(r.body, HTTP_BODY_CHUNKED);
    assert_false(r.keep_alive);
    assert_true(parse(req11("Transfer-Encoding: chunked\r\n"
                            "Content-Length: 10\r\n"), &r) > 0);
    assert_int_equal(r.body, HTTP_BODY_CHUNKED);
    assert_false(r.keep_alive);
    /* A broken Content-Length is still an error. */
    assert_int_equal(status(req11("Transfer-Encoding: chunked\r\n"
                                  "Content-Length: x\r\n")), -400);
}

CIO_TEST(http_te_not_final)
{
    (void)state;
    assert_int_equal(status(req11("Transfer-Encoding: gzip\r\n")), -400);
    assert_int_equal(status(req11("Transfer-Encoding: chunked, gzip\r\n")),
                     -400);
    assert_int_equal(status(req11("Transfer-Encoding: chunked\r\n"
                                  "Transfer-Encoding: gzip\r\n")), -400);
    assert_int_equal(status(req11("Transfer-Encoding: chunked, chunked\r\n")),
                     -400);
    assert_int_equal(status(req11("Transfer-Encoding: chunked;x=1\r\n")),
                     -400);
    assert_int_equal(status(req11("Transfer-Encoding:\r\n")), -400);
    assert_int_equal(status(req11("Transfer-Encoding: chunkedx\r\n")), -400);
}

CIO_TEST(http_te_unknown)
{
    (void)state;
    assert_int_equal(status(req11("Transfer-Encoding: gzip, chunked\r\n")),
                     -501);
    assert_int_equal(status(req11("Transfer-Encoding: foo, CHUNKED\r\n")),
                     -501);
    assert_int_equal(status(req11("Transfer-Encoding: gzip\r\n"
                                  "Transfer-Encoding: chunked\r\n")), -501);
}

CIO_TEST(http_te_http10)
{
    (void)state;
    assert_int_equal(status(req10("Transfer-Encoding: chunked\r\n")), -400);
    assert_int_equal(status(req10("Transfer-Encoding: chunked\r\n"
                                  "Content-Length: 5\r\n"
                                  "Connection: keep-alive\r\n")), -400);
}

CIO_TEST(http_host)
{
    (void)state;
    struct http_req r;
    assert_int_equal(status("GET / HTTP/1.1\r\n\r\n"), -400);
    assert_int_equal(status("GET / HTTP/1.1\r\nX: y\r\n\r\n"), -400);
    assert_int_equal(status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
                     -400);
    assert_int_equal(status("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
                     -400);
    assert_int_equal(status("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
                     -400);
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
    assert_int_equal(r.minor, 0);
    assert_false(r.keep_alive);
    /* An empty Host is how a request without an authority says so. */
    assert_true(status("GET / HTTP/1.1\r\nHost:\r\n\r\n") > 0);
    assert_true(status("GET / HTTP/1.1\r\nHOST: a.b-c_d~e:8080\r\n\r\n") > 0);
    assert_true(status("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n") > 0);
    assert_true(status("GET / HTTP/1.1\r\nHost: %41!$&'()*+,;=\r\n\r\n") > 0);
    assert_int_equal(status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400);
    assert_int_equal(status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), -400);
    assert_int_equal(status("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), -400);
    assert_int_equal(status("GET / HTTP/1.1\r\nHost: a\x80\r\n\r\n"), -400);
}

CIO_TEST(http_space_before_colon)
{
    (void)state;
    assert_int_equal(status("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), -400);
    assert_int_equal(status(req11("X-A\t: b\r\n")), -400);
    assert_int_equal(status(req11("Transfer-Encoding : chunked\r\n")), -400);
    assert_int_equal(status(req11(": b\r\n")), -400);
    assert_int_equal(status(req11("X A: b\r\n")), -400);
}

CIO_TEST(http_obs_fold)
{
    (void)state;
    assert_int_equal(status(req11("X-A: b\r\n c\r\n")), -400);
    assert_int_equal(status(req11("X-A: b\r\n\tc\r\n")), -400);
    /* Whitespace between the request-line and the first field (2.2). */
    assert_int_equal(status("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), -400);
}

CIO_TEST(http_version)
{
    (void)state;
    struct http_req r;
    assert_int_equal(status("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505);
    assert_int_equal(status("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), -505);
    assert_int_equal(status("GET / HTTP/3.1\r\n\r\n"), -505);
    assert_true(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n", &r) > 0);
    assert_int_equal(r.minor, 1);
    assert_true(parse("GET / HTTP/1.9\r\nHost: a\r\n\r\n", &r) > 0);
    assert_int_equal(r.minor, 1);
    assert_true(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
    assert_int_equal(r.minor, 0);
    static const char *bad[] = {
        "GET / http/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        "GET / HTTP/11.0\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.x\r\nHost: a\r\n\r\n",
        "GET / HTTP/1,1\r\nHost: a\r\n\r\n",
        "GET / HTTP/\r\nHost: a\r\n\r\n",
        "GET /\r\nHost: a\r\n\r\n",
        "GET\r\nHost: a\r\n\r\n",
        "garbage\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / \r\nHost: a\r\n\r\n",
        "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n",
        " GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
        "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (status(bad[i]) != -400)
            fail_msg("bad[%zu]: %d, want -400", i, status(bad[i]));
}

CIO_TEST(http_leading_empty_lines)
{
    (void)state;
    struct http_req r;
    const char *s = "\r\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(parse(s, &r), strlen(s));
    assert_ptr_equal(r.method, s + 5);
    assert_str(r.method, r.method_len, "GET");
    const char *t = "\nGET / HTTP/1.1\nHost: a\n\n";
    assert_int_equal(parse(t, &r), strlen(t));
    assert_ptr_equal(r.method, t + 1);
    /* Only empty lines are skipped. */
    assert_int_equal(status(" \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

CIO_TEST(http_bare_lf)
{
    (void)state;
    struct http_req r;
    const char *s = "GET /x HTTP/1.1\nHost: a\nConnection: close\n\n";
    assert_int_equal(parse(s, &r), strlen(s));
    assert_str(r.target, r.target_len, "/x");
    assert_false(r.keep_alive);
    const char *m = "GET /x HTTP/1.1\r\nHost: a\nX: y\r\n\n";
    assert_int_equal(parse(m, &r), strlen(m));
    const char *e = "GET /x HTTP/1.1\r\nHost: a\r\n\n";
    assert_int_equal(parse(e, &r), strlen(e));
    /* A bare CR is not a line end (section 2.2). */
    assert_int_equal(status("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"), -400);
    assert_int_equal(status("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"), -400);
    assert_int_equal(status("GET / HTTP/1.1\rHost: a\r\n\r\n"), -400);
}

/* Every byte in a field name and a field value, at offsets that put it in
 * each lane of the value scanner's eight-byte words and in its byte tail. */
CIO_TEST(http_field_bytes)
{
    (void)state;
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    char s[256];
    for (int b = 0; b < 256; b++) {
        if (b == '\n' || b == '\r' || b == ':')
            continue; /* they change the line's shape, tested elsewhere */
        int n = snprintf(s, sizeof s,
                         "GET / HTTP/1.1\r\nHost: a\r\nX%cY: v\r\n\r\n", b);
        int want = b && strchr(tchar, b) ? n : -400;
        struct http_req r;
        if (parse_n(s, (size_t)n, LIMIT, &r) != want)
            fail_msg("name byte 0x%02x: want %d", b, want);
        for (int off = 0; off < 20; off++) {
            n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: a\r\nX: "
                         "%.*s@%.*s\r\n\r\n", off, "abcdefghijklmnopqrst",
                         19 - off, "abcdefghijklmnopqrst");
            char *at = strchr(s + 28, '@');
            *at = (char)b;
            bool ok = b == '\t' || (b >= 0x20 && b != 0x7f);
            want = ok ? n : -400;
            if (parse_n(s, (size_t)n, LIMIT, &r) != want)
                fail_msg("value byte 0x%02x at %d: want %d", b, off, want);
        }
    }
}

CIO_TEST(http_limit)
{
    (void)state;
    const char *s = "GET /abc HTTP/1.1\r\nHost: a\r\nX: 0123456789\r\n\r\n";
    size_t n = strlen(s);
    struct http_req r;
    assert_int_equal(parse_n(s, n, n, &r), n);
    assert_int_equal(parse_n(s, n, n - 1, &r), -431);
    assert_int_equal(parse_n(s, n, 0, &r), -431);
    /* Incomplete: 0 while n <= limit, -431 from one byte over. */
    assert_int_equal(parse_n(s, 20, 20, &r), 0);
    assert_int_equal(parse_n(s, 21, 20, &r), -431);
    assert_int_equal(parse_n(s, 0, 0, &r), 0);
    /* Bytes after the head do not count, wherever the limit falls. */
    char buf[256];
    snprintf(buf, sizeof buf, "%sGET / HTTP/1.1\r\n", s);
    assert_int_equal(parse_n(buf, strlen(buf), n, &r), n);
    assert_int_equal(parse_n(buf, strlen(buf), n - 1, &r), -431);
    /* Skipped empty lines count toward the limit. */
    snprintf(buf, sizeof buf, "\r\n%s", s);
    assert_int_equal(parse_n(buf, n + 2, n + 2, &r), n + 2);
    assert_int_equal(parse_n(buf, n + 2, n + 1, &r), -431);
    memset(buf, '\n', 64);
    assert_int_equal(parse_n(buf, 64, 64, &r), 0);
    assert_int_equal(parse_n(buf, 64, 63, &r), -431);
}

static void same_req(const struct http_req *a, const struct http_req *b)
{
    assert_int_equal(a->minor, b->minor);
    assert_int_equal(a->keep_alive, b->keep_alive);
    assert_int_equal(a->head, b->head);
    assert_int_equal(a->expect_continue, b->expect_continue);
    assert_int_equal(a->body, b->body);
    assert_true(a->length == b->length);
    assert_int_equal(a->head_len, b->head_len);
    assert_ptr_equal(a->method, b->method);
    assert_int_equal(a->method_len, b->method_len);
    assert_ptr_equal(a->target, b->target);
    assert_int_equal(a->target_len, b->target_len);
}

CIO_TEST(http_incomplete_prefixes)
{
    (void)state;
    static const char *reqs[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ("POST /upload HTTP/1.1\r\nHost: example.com:8080\r\n"
         "Content-Length: 12\r\nExpect: 100-continue\r\n"
         "Connection: keep-alive\r\nUser-Agent: curl/8.0\r\n\r\n"),
        "\r\n\nHEAD /x HTTP/1.0\nConnection: Keep-Alive\n\n",
        ("PUT /y HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
         "X-Empty:\r\nX-Tab:\tv\t\r\n\r\n"),
        "GET /z HTTP/1.1\r\nHost: h\r\n\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        const char *s = reqs[i];
        size_t n = strlen(s);
        struct http_req whole, r;
        assert_int_equal(parse_n(s, n, LIMIT, &whole), n);
        for (size_t k = 0; k < n; k++)
            if (parse_n(s, k, LIMIT, &r) != 0)
                fail_msg("reqs[%zu] prefix %zu: not 0", i, k);
        assert_int_equal(parse_n(s, n, LIMIT, &r), n);
        same_req(&r, &whole);
    }
}

CIO_TEST(http_pipelined)
{
    (void)state;
    const char *a = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
    const char *b = "GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%shello%s%s", a, b, b);
    struct http_req r;
    assert_int_equal(parse_n(buf, (size_t)n, LIMIT, &r), strlen(a));
    assert_int_equal(r.body, HTTP_BODY_LENGTH);
    assert_int_equal(r.length, 5);
    size_t off = strlen(a) + 5;
    assert_int_equal(parse_n(buf + off, (size_t)n - off, LIMIT, &r), strlen(b));
    assert_str(r.target, r.target_len, "/b");
    assert_false(r.keep_alive);
    off += strlen(b);
    assert_int_equal(parse_n(buf + off, (size_t)n - off, LIMIT, &r), strlen(b));
    off += strlen(b);
    assert_int_equal(off, n);
    /* Two heads with no body between them. */
    n = snprintf(buf, sizeof buf, "%s%s", b, b);
    assert_int_equal(parse_n(buf, (size_t)n, LIMIT, &r), strlen(b));
}

/* Feeds s[0..n) in pieces ending at the offsets cuts[0..k) and then n, each
 * piece from an exact-size copy. Returns the decoder's verdict; *total gets
 * the bytes it consumed, which must not depend on the cuts. */
static int feed(struct http_chunked *c, const char *s, size_t n,
                const size_t *cuts, size_t k, size_t *total)
{
    http_chunked_init(c);
    *total = 0;
    size_t from = 0;
    for (size_t i = 0; i <= k; i++) {
        size_t to = i < k ? cuts[i] : n;
        if (to < from)
            continue;
        size_t len = to - from, used = 12345;
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, s + from, len);
        int rc = http_chunked_feed(c, copy, len, &used);
        free(copy);
        assert_true(used <= len);
        *total += used;
        if (rc != 0)
            return rc;
        assert_int_equal(used, len);
        from = to;
    }
    return 0;
}

static int feed_whole(struct http_chunked *c, const char *s, size_t n,
                      size_t *total)
{
    return feed(c, s, n, NULL, 0, total);
}

static const char *const chunked_ok[] = {
    "5\r\nhello\r\n0\r\n\r\n",
    ("5;ext=1;q=\"a;b\"\r\nhello\r\nA\r\n0123456789\r\n"
     "0\r\nX-T: v\r\nX-U:\r\n\r\n"),
    "a \t; name = val\r\n0123456789\r\n000\r\n\r\n",
    ("Ff\n"
     "0123456789012345678901234567890123456789012345678901234567890123"
     "0123456789012345678901234567890123456789012345678901234567890123"
     "0123456789012345678901234567890123456789012345678901234567890123"
     "012345678901234567890123456789012345678901234567890123456789012\n"
     "1\nx\n0;z\nT:\tv \n\n"),
    "0\r\n\r\n",
    "00000000000000000000000001\r\n!\r\n0\n\n",
};

CIO_TEST(http_chunked_whole)
{
    (void)state;
    struct http_chunked c;
    size_t used;
    const char *s = chunked_ok[1];
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%sGET / HTTP/1.1\r\n", s);
    assert_int_equal(feed_whole(&c, buf, (size_t)n, &used), 1);
    assert_int_equal(used, strlen(s));
    assert_true(c.body == 15);
    /* Done is sticky until init. */
    assert_int_equal(http_chunked_feed(&c, "x", 1, &used), 1);
    assert_int_equal(used, 0);
    uint64_t want_body[] = {5, 15, 10, 256, 0, 1};
    for (size_t i = 0; i < sizeof chunked_ok / sizeof chunked_ok[0]; i++) {
        size_t len = strlen(chunked_ok[i]);
        assert_int_equal(feed_whole(&c, chunked_ok[i], len, &used), 1);
        assert_int_equal(used, len);
        assert_true(c.body == want_body[i]);
    }
}

CIO_TEST(http_chunked_bytewise)
{
    (void)state;
    for (size_t i = 0; i < sizeof chunked_ok / sizeof chunked_ok[0]; i++) {
        const char *s = chunked_ok[i];
        size_t n = strlen(s), total;
        struct http_chunked c;
        http_chunked_init(&c);
        for (size_t k = 0; k < n; k++) {
            size_t used = 99;
            char byte = s[k];
            int rc = http_chunked_feed(&c, &byte, 1, &used);
            assert_int_equal(used, 1);
            assert_int_equal(rc, k + 1 == n ? 1 : 0);
        }
        /* The same through feed() with a cut at every byte. */
        size_t cuts[512];
        for (size_t k = 0; k < n; k++)
            cuts[k] = k;
        assert_int_equal(feed(&c, s, n, cuts, n, &total), 1);
        assert_int_equal(total, n);
    }
}

CIO_TEST(http_chunked_splits)
{
    (void)state;
    for (size_t i = 0; i < sizeof chunked_ok / sizeof chunked_ok[0]; i++) {
        char buf[512];
        int n = snprintf(buf, sizeof buf, "%sNEXT", chunked_ok[i]);
        size_t whole_used, total;
        struct http_chunked c;
        assert_int_equal(feed_whole(&c, buf, (size_t)n, &whole_used), 1);
        uint64_t body = c.body;
        for (size_t a = 0; a <= (size_t)n; a++) {
            for (size_t b = a; b <= (size_t)n; b += 7) {
                size_t cuts[2] = {a, b};
                if (feed(&c, buf, (size_t)n, cuts, 2, &total) != 1 ||
                    total != whole_used || c.body != body)
                    fail_msg("chunked_ok[%zu] cut at %zu, %zu", i, a, b);
            }
        }
    }
}

CIO_TEST(http_chunked_malformed)
{
    (void)state;
    static const struct {
        const char *s;
        size_t used; /* where the offending byte is, plus one */
        size_t n;    /* the input's length if it holds a NUL */
    } bad[] = {
        {"\r\n", 1},
        {"x\r\n", 1},
        {";a\r\n", 1},
        {"-5\r\n", 1},
        {"0x5\r\n", 2},
        {"5\r\nhelloX\r\n", 9},
        {"5\r\nhello\rX", 10},
        {"5\r\nhello\n\r0\r\n\r\n", 10},
        {"5 \r\n", 3},
        {"5 x\r\n", 3},
        {"5\x00\r\n", 2, 4},
        {"5;\x01\r\n", 3},
        {"5\rX", 3},
        {"5\r\r\n", 3},
        {"10000000000000000\r\n", 17},
        {"FFFFFFFFFFFFFFFFF\r\n", 17},
        {"0\r\nX : v\r\n\r\n", 5},
        {"0\r\n v\r\n\r\n", 4},
        {"0\r\nX\r\n\r\n", 5},
        {"0\r\n:v\r\n\r\n", 4},
        {"0\r\nX: a\rb\r\n\r\n", 9},
        {"0\r\nX: a\x7f\r\n\r\n", 8},
        {"0\r\n\rX", 5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *s = bad[i].s;
        size_t n = bad[i].n ? bad[i].n : strlen(s), used;
        struct http_chunked c;
        int rc = feed_whole(&c, s, n, &used);
        if (rc != -400 || used != bad[i].used)
            fail_msg("bad[%zu]: rc %d used %zu, want -400 used %zu", i, rc,
                     used, bad[i].used);
        /* An error is sticky until init. */
        assert_int_equal(http_chunked_feed(&c, "0\r\n\r\n", 5, &used), -400);
        assert_int_equal(used, 0);
    }
    /* The largest size is fine (it needs more bytes, of course). */
    struct http_chunked c;
    size_t used;
    assert_int_equal(feed_whole(&c, "FFFFFFFFFFFFFFFF\r\nab", 20, &used), 0);
    assert_true(c.body == UINT64_MAX);
    const char *zeros = "000000000000000000000000000000000000001\r\nx\r\n"
                        "0\r\n\r\n";
    assert_int_equal(feed_whole(&c, zeros, strlen(zeros), &used), 1);
    assert_int_equal(used, strlen(zeros));
}

CIO_TEST(http_chunked_line_limit)
{
    (void)state;
    static char buf[3 * HTTP_CHUNK_LINE_MAX];
    struct http_chunked c;
    size_t used;
    /* "1;" + pad + "\r\n" is exactly the limit, then one byte more. */
    for (int over = 0; over <= 1; over++) {
        size_t pad = HTTP_CHUNK_LINE_MAX - 4 + (size_t)over, n = 0;
        memcpy(buf, "1;", 2);
        n += 2;
        memset(buf + n, 'e', pad);
        n += pad;
        memcpy(buf + n, "\r\nx\r\n0\r\n\r\n", 10);
        n += 10;
        assert_int_equal(feed_whole(&c, buf, n, &used), over ? -400 : 1);
        assert_int_equal(used, over ? HTTP_CHUNK_LINE_MAX + 1 : n);
    }
    /* The same for a trailer line: "T:" + pad + "\r\n". */
    for (int over = 0; over <= 1; over++) {
        size_t pad = HTTP_CHUNK_LINE_MAX - 4 + (size_t)over, n = 0;
        memcpy(buf, "0\r\nT:", 5);
        n += 5;
        memset(buf + n, 'v', pad);
        n += pad;
        memcpy(buf + n, "\r\nU: v\r\n\r\n", 10);
        n += 10;
        assert_int_equal(feed_whole(&c, buf, n, &used), over ? -400 : 1);
        assert_int_equal(used, over ? 3 + HTTP_CHUNK_LINE_MAX + 1 : n);
    }
    /* A long size line before the data does not eat into the CRLF after it,
     * and leading zeros count toward the line. */
    memset(buf, '0', HTTP_CHUNK_LINE_MAX - 3);
    int n = HTTP_CHUNK_LINE_MAX - 3;
    n += snprintf(buf + n, sizeof buf - (size_t)n, "1\r\nx\r\n0\r\n\r\n");
    assert_int_equal(feed_whole(&c, buf, (size_t)n, &used), 1);
    memset(buf, '0', HTTP_CHUNK_LINE_MAX + 1);
    assert_int_equal(feed_whole(&c, buf, HTTP_CHUNK_LINE_MAX + 1, &used), -400);
    assert_int_equal(used, HTTP_CHUNK_LINE_MAX + 1);
}

/* A small deterministic generator (xorshift) for the fuzz loop. */
static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11) % n;
}

static size_t mutate(char *buf, size_t n, size_t cap)
{
    static const char alpha[] = "\r\n\r\n \t:,;=0123456789aAfF\""
                                "\x00\x7f\x80\xff"
                                "chunkedHostContent-LengthTransfer-Encoding";
    int edits = 1 + (int)rnd(4);
    for (int e = 0; e < edits; e++) {
        size_t at = n ? rnd((uint32_t)n + 1) : 0;
        char ch = rnd(4) ? alpha[rnd(sizeof alpha - 1)] : (char)rnd(256);
        switch (rnd(4)) {
        case 0: /* replace */
            if (at < n)
                buf[at] = ch;
            break;
        case 1: /* insert */
            if (n < cap) {
                memmove(buf + at + 1, buf + at, n - at);
                buf[at] = ch;
                n++;
            }
            break;
        case 2: /* delete */
            if (at < n) {
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
            }
            break;
        case 3: { /* duplicate a run */
            size_t len = rnd(16);
            if (at + len <= n && n + len <= cap) {
                memmove(buf + at + len, buf + at, n - at);
                n += len;
            }
            break;
        }
        }
    }
    return n;
}

static void fuzz_head(const char *s, size_t n)
{
    size_t limit = rnd(4) ? LIMIT : rnd((uint32_t)n + 2);
    struct http_req r;
    int rc = parse_n(s, n, limit, &r);
    if (rc > 0) {
        assert_true((size_t)rc <= n && (size_t)rc <= limit);
        assert_int_equal(r.head_len, rc);
        assert_true(r.minor == 0 || r.minor == 1);
        assert_true(r.body == HTTP_BODY_NONE || r.body == HTTP_BODY_LENGTH ||
                    r.body == HTTP_BODY_CHUNKED);
        assert_true(r.method_len > 0 && r.target_len > 0);
        /* The head ends where it ends: the bytes after change nothing. */
        struct http_req r2;
        assert_int_equal(parse_n(s, (size_t)rc, limit, &r2), rc);
        if (rc > 1)
            assert_int_equal(parse_n(s, (size_t)rc - 1, limit, &r2), 0);
    } else if (rc != 0 && rc != -400 && rc != -431 && rc != -501 &&
               rc != -505) {
        fail_msg("http_parse_head returned %d", rc);
    }
    if (rc == -431)
        assert_true(n > limit);
}

static void fuzz_chunked(const char *s, size_t n)
{
    struct http_chunked c;
    size_t whole, total;
    int rc = feed_whole(&c, s, n, &whole);
    assert_true(rc == 0 || rc == 1 || rc == -400);
    assert_true(whole <= n);
    size_t cuts[3];
    for (int i = 0; i < 3; i++)
        cuts[i] = rnd((uint32_t)n + 1);
    if (cuts[0] > cuts[1]) {
        size_t t = cuts[0];
        cuts[0] = cuts[1];
        cuts[1] = t;
    }
    if (feed(&c, s, n, cuts, 2, &total) != rc || total != whole)
        fail_msg("chunked result depends on the cuts %zu %zu", cuts[0],
                 cuts[1]);
}

/* A random valid chunked body: sizes, extensions, trailers, LF or CRLF. */
static size_t gen_chunked(char *buf, size_t cap, uint64_t *body)
{
    size_t n = 0;
    *body = 0;
    const char *eol = rnd(2) ? "\r\n" : "\n";
    int chunks = (int)rnd(5);
    for (int i = 0; i <= chunks; i++) {
        size_t size = i == chunks ? 0 : 1 + rnd(40);
        n += (size_t)snprintf(buf + n, cap - n, "%s%zx%s%s", rnd(4) ? "" : "00",
                              size, rnd(3) ? "" : " ;a=\"b c\";d", eol);
        memset(buf + n, 'd', size);
        n += size;
        *body += size;
        if (size)
            n += (size_t)snprintf(buf + n, cap - n, "%s", eol);
    }
    for (int t = (int)rnd(3); t > 0; t--)
        n += (size_t)snprintf(buf + n, cap - n, "X-T%d: v v%s", t, eol);
    n += (size_t)snprintf(buf + n, cap - n, "%s", eol);
    return n;
}

CIO_TEST(http_fuzz)
{
    (void)state;
    const char *env = getenv("CIO_TEST_SEED");
    rng_state = env ? strtoull(env, NULL, 0) : 0x9e3779b97f4a7c15u;
    if (rng_state == 0)
        rng_state = 1;
    printf("CIO_TEST_SEED=%llu\n", (unsigned long long)rng_state);
    static const char *heads[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ("POST /u HTTP/1.1\r\nHost: h:1\r\nContent-Length: 5, 5\r\n"
         "Connection: keep-alive, close\r\nExpect: 100-continue\r\n\r\nhello"),
        ("PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n"
         "Content-Length: 3\r\n\r\n"),
        "\r\nHEAD /x HTTP/1.0\nConnection: keep-alive\nX:\t y \n\n",
    };
    char buf[1024];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n;
        switch (iter % 3) {
        case 0: /* pure noise over a small alphabet */
            n = rnd(64);
            for (size_t i = 0; i < n; i++)
                buf[i] = "GET / HTTP/1.1\r\n:"[rnd(17)];
            break;
        case 1: { /* a mutated valid head */
            const char *h = heads[rnd(sizeof heads / sizeof heads[0])];
            n = strlen(h);
            memcpy(buf, h, n);
            n = mutate(buf, n, sizeof buf);
            break;
        }
        default:
            n = rnd(128);
            for (size_t i = 0; i < n; i++)
                buf[i] = (char)rnd(256);
            break;
        }
        fuzz_head(buf, n);
        fuzz_chunked(buf, n);
    }
    for (int iter = 0; iter < 3000; iter++) {
        uint64_t body;
        size_t n = gen_chunked(buf, sizeof buf - 64, &body);
        struct http_chunked c;
        size_t used;
        if (feed_whole(&c, buf, n, &used) != 1 || used != n || c.body != body)
            fail_msg("generated body %d: %.*s", iter, (int)n, buf);
        fuzz_chunked(buf, n);
        n = mutate(buf, n, sizeof buf);
        fuzz_chunked(buf, n);
    }
}

CIO_TEST_MAIN(cmocka_unit_test(http_simple_get),
              cmocka_unit_test(http_head_method),
              cmocka_unit_test(http_keep_alive),
              cmocka_unit_test(http_expect_continue),
              cmocka_unit_test(http_content_length),
              cmocka_unit_test(http_te_chunked),
              cmocka_unit_test(http_te_not_final),
              cmocka_unit_test(http_te_unknown),
              cmocka_unit_test(http_te_http10),
              cmocka_unit_test(http_host),
              cmocka_unit_test(http_space_before_colon),
              cmocka_unit_test(http_obs_fold),
              cmocka_unit_test(http_version),
              cmocka_unit_test(http_leading_empty_lines),
              cmocka_unit_test(http_bare_lf),
              cmocka_unit_test(http_field_bytes),
              cmocka_unit_test(http_limit),
              cmocka_unit_test(http_incomplete_prefixes),
              cmocka_unit_test(http_pipelined),
              cmocka_unit_test(http_chunked_whole),
              cmocka_unit_test(http_chunked_bytewise),
              cmocka_unit_test(http_chunked_splits),
              cmocka_unit_test(http_chunked_malformed),
              cmocka_unit_test(http_chunked_line_limit),
              cmocka_unit_test(http_fuzz))
