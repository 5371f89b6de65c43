/* An HTTP/1.1 request-head parser and chunked-body decoder (RFC 9112
 * message framing) for the example servers.
 *
 * Pure C11 and libc: nothing here knows about cio, so the parser can be
 * tested and fuzzed on its own. Neither function allocates or keeps a
 * pointer to the caller's buffer beyond the call (http_req points into it).
 * Both are reentrant: all state lives in the caller's structs.
 */
#ifndef CIO_EXAMPLE_HTTP_H
#define CIO_EXAMPLE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest chunk-size line (size, extensions, CRLF) and longest trailer field
 * line the chunked decoder accepts, in bytes. */
#define HTTP_CHUNK_LINE_MAX 4096

enum http_body { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED };

struct http_req {
    int minor;              /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
    bool keep_alive;        /* the connection persists after this exchange */
    bool head;              /* method is HEAD (response has no body) */
    bool expect_continue;   /* "Expect: 100-continue" (HTTP/1.1 only) */
    enum http_body body;
    uint64_t length;        /* body bytes with HTTP_BODY_LENGTH (may be 0) */
    size_t head_len;        /* bytes of request line + fields + final CRLF
                             * CRLF, plus any empty lines skipped before the
                             * request line */
    /* method and target as pointer+length into the caller's buffer */
    const char *method; size_t method_len;
    const char *target; size_t target_len;
};

/* Parses the request head at buf[0..n). Returns head_len (> 0) when a whole
 * head is there (req filled), 0 when more bytes are needed and the head so
 * far is within `limit` bytes, or a negative HTTP status to answer before
 * closing the connection: -400 (malformed), -431 (head longer than `limit`
 * bytes, detected as soon as n > limit without a complete head), -501
 * (transfer coding other than chunked), -505 (HTTP major version not 1).
 *
 * The parse is restartable by calling again from the start of the grown
 * buffer; a call that finds no end of head yet costs one memchr pass over at
 * most `limit` bytes. Bytes after head_len (a body, a pipelined request) are
 * not looked at. `limit` above INT_MAX is taken as INT_MAX so head_len fits
 * the return value. On a return other than > 0, *req is unspecified.
 *
 * Choices where RFC 9112 leaves one: a request with both Transfer-Encoding
 * and Content-Length is framed by Transfer-Encoding and gets keep_alive =
 * false (section 6.1); "Content-Length: 5, 5" (or two equal field lines) is
 * taken as 5 (RFC 9110 section 8.6); leading empty lines and bare LF line
 * ends are accepted (section 2.2); obs-fold and bare CR are rejected. */
int http_parse_head(const char *buf, size_t n, size_t limit,
                    struct http_req *req);

/* Chunked-body decoder state; set up with http_chunked_init. */
struct http_chunked {
    uint64_t left;  /* chunk size being read, then data bytes left in it */
    uint64_t body;  /* data bytes announced so far: a server caps this */
    uint32_t line;  /* bytes seen of the current size or trailer line */
    uint8_t state;  /* position in the grammar (http.c, enum chunk_state) */
};

void http_chunked_init(struct http_chunked *c);

/* Consumes a chunked body from buf[0..n); *used receives the bytes consumed.
 * Returns 1 when the body and its trailer section are complete (the bytes
 * after it are the next request), 0 when it needs more bytes (all n used),
 * -400 when malformed (bad size, missing CRLF, size overflow, a size or
 * trailer line longer than HTTP_CHUNK_LINE_MAX). On -400 *used counts up to
 * and including the offending byte. Chunk data is skipped, not copied: the
 * decoder only frames the body. Once it has returned 1 or -400 it keeps
 * returning that with *used = 0 until http_chunked_init. */
int http_chunked_feed(struct http_chunked *c, const char *buf, size_t n,
                      size_t *used);

#endif /* CIO_EXAMPLE_HTTP_H */
