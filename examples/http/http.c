/* HTTP/1.1 request framing. Section numbers are RFC 9112's unless another
 * RFC is named (RFC 9110 is HTTP semantics).
 *
 * The head parser runs in two steps: a memchr pass finds the empty line
 * that ends the head (so a call on an incomplete head is cheap), then one
 * pass over the head's bytes checks and reads every line. Because the head
 * is known to end in LF, each inner loop stops at a byte it rejects or at
 * that LF and never needs its own bounds check.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

/* Byte classes: tchar (RFC 9110 section 5.6.2) for methods and field
 * names; HOST for the bytes a Host value may hold, which is uri-host
 * [":" port] of RFC 3986 (unreserved, pct-encoded, sub-delims, ':' and the
 * brackets of an IP-literal). Bytes from 0x80 up are in neither. */
enum { C_TCHAR = 1, C_HOST = 2 };

static const unsigned char cls[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    0, 3, 0, 1, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 0, /*  !"#$%&'()*+,-./ */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 0, 2, 0, 0, /* 0123456789:;<=>? */
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* @ABCDEFGHIJKLMNO */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 0, 2, 1, 3, /* PQRSTUVWXYZ[\]^_ */
    1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* `abcdefghijklmno */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 1, 0, 3, 0, /* pqrstuvwxyz{|}~  */
};

#define IS(b, c) (cls[(unsigned char)(b)] & (c))
#define OWS(b) ((b) == ' ' || (b) == '\t')

/* What the field lines said, judged once the whole head has been read. */
struct fields {
    uint64_t length;     /* Content-Length value */
    bool has_length;     /* a Content-Length field line was seen */
    bool host;           /* a Host field line was seen */
    bool host_twice;     /* ... and another one */
    bool te;             /* a Transfer-Encoding field line was seen */
    bool te_last_chunked;/* the last coding listed so far is chunked */
    bool te_chunked;     /* chunked was listed */
    bool te_twice;       /* chunked was listed more than once */
    bool te_other;       /* a coding other than chunked was listed */
    bool close;          /* "close" connection option */
    bool keep_alive;     /* "keep-alive" connection option */
    bool expect;         /* "100-continue" expectation */
};

/* One past the LF of the first empty line at or after p, or NULL if
 * p[0..e) has none yet. A line ends in LF, so an empty line is an LF
 * followed by LF or by CR LF. */
static const char *head_end(const char *p, const char *e)
{
    while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        if (e - p > 1 && p[1] == '\n')
            return p + 2;
        if (e - p > 2 && p[1] == '\r' && p[2] == '\n')
            return p + 3;
        p++;
    }
    return NULL;
}

/* Nonzero if a byte of x is below 0x20 or is 0x7f: Bit Twiddling Hacks'
 * hasless(x, 0x20) and haszero(x ^ 0x7f..). Neither misses such a byte;
 * hasless may flag more than the first one, which the caller rechecks. */
static inline uint64_t ctl_in(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u;
    uint64_t d = x ^ (ones * 0x7f);
    return (((x - ones * 0x20) & ~x) | ((d - ones) & ~d)) & (ones * 0x80);
}

/* The LF ending the field value that starts at p, or NULL if a byte other
 * than HTAB, SP, VCHAR or obs-text comes first (RFC 9110 section 5.5). A
 * CR counts only right before LF: section 2.2 makes a bare CR invalid.
 * Values are the bulk of a head, hence eight bytes per step while clean. */
static const char *value_end(const char *p, const char *end)
{
    for (;;) {
        if (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, sizeof x);
            if (!ctl_in(x)) {
                p += 8;
                continue;
            }
        }
        unsigned char c = (unsigned char)*p;
        if (c == '\n')
            return p;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return c == '\r' && p[1] == '\n' ? p + 1 : NULL;
        p++;
    }
}

/* Whether s[0..n) is the lowercase literal `lit`, ignoring ASCII case.
 * OR-ing 0x20 folds only letters onto lit's bytes: its '-' and digits
 * already have that bit, and their other preimages are CTLs, which no
 * checked name or value holds. */
static bool ieq(const char *s, size_t n, const char *lit, size_t litn)
{
    if (n != litn)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != lit[i])
            return false;
    return true;
}

#define IEQ(s, n, lit) ieq(s, n, lit, sizeof(lit) - 1)

/* Splits a #list (RFC 9110 section 5.6.1) at the next comma: the element
 * from p, OWS trimmed (maybe empty), goes to *el and *len. Returns where the
 * next element starts, NULL after the last. Quoted commas are not special:
 * none of the lists read here has a quoted-string this parser must keep
 * whole, and a split one only turns into elements that match nothing. */
static const char *list_next(const char *p, const char *e, const char **el,
                             size_t *len)
{
    const char *comma = memchr(p, ',', (size_t)(e - p));
    const char *q = comma ? comma : e;
    while (p < q && OWS(*p))
        p++;
    while (q > p && OWS(q[-1]))
        q--;
    *el = p;
    *len = (size_t)(q - p);
    return comma ? comma + 1 : NULL;
}

/* Content-Length = 1*DIGIT (RFC 9110 section 8.6). A list of equal values,
 * or equal repeated field lines, likely comes from an upstream that merged
 * duplicates and may be taken as one value; anything else is an error,
 * since two framings of one message is how requests are smuggled. */
static int content_length(const char *p, const char *e, struct fields *f)
{
    while (p) {
        const char *el;
        size_t len;
        p = list_next(p, e, &el, &len);
        if (len == 0)
            return -400;
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned d = (unsigned char)el[i] - (unsigned)'0';
            if (d > 9 || v > (UINT64_MAX - d) / 10)
                return -400;
            v = v * 10 + d;
        }
        if (f->has_length && v != f->length)
            return -400;
        f->has_length = true;
        f->length = v;
    }
    return 0;
}

/* Transfer-Encoding lists codings in the order applied; several field
 * lines make one list (RFC 9110 section 5.3). Only the order and whether
 * each is "chunked" matter: the verdict waits for the whole head. A coding
 * with parameters is not plain chunked (which has none, section 7). */
static void transfer_encoding(const char *p, const char *e, struct fields *f)
{
    f->te = true;
    while (p) {
        const char *el;
        size_t len;
        p = list_next(p, e, &el, &len);
        if (len == 0)
            continue; /* RFC 9110 section 5.6.1: empty elements don't count */
        bool chunked = IEQ(el, len, "chunked");
        f->te_twice |= chunked && f->te_chunked;
        f->te_chunked |= chunked;
        f->te_other |= !chunked;
        f->te_last_chunked = chunked;
    }
}

static void connection(const char *p, const char *e, struct fields *f)
{
    while (p) {
        const char *el;
        size_t len;
        p = list_next(p, e, &el, &len);
        f->close |= IEQ(el, len, "close");
        f->keep_alive |= IEQ(el, len, "keep-alive");
    }
}

/* Expectations are case-insensitive (RFC 9110 section 10.1.1); others than
 * 100-continue are ignored rather than answered with 417. */
static void expect(const char *p, const char *e, struct fields *f)
{
    while (p) {
        const char *el;
        size_t len;
        p = list_next(p, e, &el, &len);
        f->expect |= IEQ(el, len, "100-continue");
    }
}

/* Section 3.2: a Host with an invalid value is a 400 like a missing one. */
static int host(const char *p, const char *e, struct fields *f)
{
    f->host_twice |= f->host;
    f->host = true;
    for (; p < e; p++)
        if (!IS(*p, C_HOST))
            return -400;
    return 0;
}

/* Reads the field line at *pp and moves *pp past it. */
static int field_line(const char **pp, const char *end, struct fields *f)
{
    const char *name = *pp, *p = name;
    while (IS(*p, C_TCHAR))
        p++;
    /* SP or HTAB before the colon (section 5.1) and a line starting with
     * them, obs-fold (section 5.2) or whitespace after the request-line
     * (section 2.2), all stop here: a server may reject each, and
     * accepting them has let requests be smuggled past proxies. */
    if (p == name || *p != ':')
        return -400;
    size_t nlen = (size_t)(p - name);
    for (p++; OWS(*p); p++)
        ;
    const char *v = p, *lf = value_end(p, end);
    if (!lf)
        return -400;
    const char *e = lf;
    if (e > v && e[-1] == '\r')
        e--;
    while (e > v && OWS(e[-1]))
        e--;
    *pp = lf + 1;

    int rc = 0;
    switch (nlen) { /* the length rules out most names with one compare */
    case 4:
        if (IEQ(name, nlen, "host"))
            rc = host(v, e, f);
        break;
    case 6:
        if (IEQ(name, nlen, "expect"))
            expect(v, e, f);
        break;
    case 10:
        if (IEQ(name, nlen, "connection"))
            connection(v, e, f);
        break;
    case 14:
        if (IEQ(name, nlen, "content-length"))
            rc = content_length(v, e, f);
        break;
    case 17:
        if (IEQ(name, nlen, "transfer-encoding"))
            transfer_encoding(v, e, f);
        break;
    }
    return rc;
}

/* request-line = method SP request-target SP HTTP-version (section 3),
 * one line ending at lf. Single SPs only: section 3 lets a server split on
 * other whitespace, but nothing sends it. */
static int request_line(const char *p, const char *lf, struct http_req *req)
{
    const char *le = lf > p && lf[-1] == '\r' ? lf - 1 : lf;
    req->method = p;
    while (p < le && IS(*p, C_TCHAR))
        p++;
    req->method_len = (size_t)(p - req->method);
    if (req->method_len == 0 || p == le || *p++ != ' ')
        return -400;
    /* The target is a URI form (section 3.2): visible ASCII only. */
    req->target = p;
    while (p < le && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
        p++;
    req->target_len = (size_t)(p - req->target);
    if (req->target_len == 0 || p == le || *p++ != ' ')
        return -400;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (2.3). */
    if (le - p != 8 || memcmp(p, "HTTP/", 5) != 0 ||
        (unsigned)(p[5] - '0') > 9 || p[6] != '.' ||
        (unsigned)(p[7] - '0') > 9)
        return -400;
    if (p[5] != '1')
        return -505;
    /* RFC 9110 section 2.5: a higher minor version of a major version we
     * implement is processed as the highest minor we do. */
    req->minor = p[7] == '0' ? 0 : 1;
    return 0;
}

/* The verdicts that need the whole field section. */
static int judge(const struct fields *f, struct http_req *req)
{
    /* Section 3.2: 1.1 needs a Host, and no request may have two. */
    if (f->host_twice || (req->minor == 1 && !f->host))
        return -400;
    /* Section 9.3: 1.1 persists unless "close"; 1.0 only on "keep-alive". */
    req->keep_alive = !f->close && (req->minor == 1 || f->keep_alive);
    /* RFC 9110 section 10.1.1: a 1.0 server ignores 100-continue. */
    req->expect_continue = req->minor == 1 && f->expect;
    req->head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    req->length = 0;
    if (f->te) {
        /* Section 6.1: TE in a 1.0 message means faulty framing. */
        if (req->minor == 0)
            return -400;
        /* Section 6.3 rule 4: without chunked last the body's end is
         * unknown; section 6.1: chunked is applied at most once. */
        if (!f->te_last_chunked || f->te_twice)
            return -400;
        /* Section 6.1: a coding the server does not understand -> 501. */
        if (f->te_other)
            return -501;
        req->body = HTTP_BODY_CHUNKED;
        /* Section 6.1: with Content-Length too, TE frames the request and
         * the server MUST close after responding (the other choice it
         * offers is to reject). */
        if (f->has_length)
            req->keep_alive = false;
    } else if (f->has_length) {
        req->body = HTTP_BODY_LENGTH;
        req->length = f->length;
    } else {
        req->body = HTTP_BODY_NONE; /* section 6.3 rule 7 */
    }
    return 0;
}

int http_parse_head(const char *buf, size_t n, size_t limit,
                    struct http_req *req)
{
    if (limit > INT_MAX)
        limit = INT_MAX;
    /* A head within the limit ends within its first `limit` bytes, so
     * nothing past them needs a look. */
    const char *p = buf, *e = buf + (n < limit ? n : limit);
    /* Section 2.2: a server SHOULD ignore at least one empty line before
     * the request-line (clients have sent CRLF after a POST body). They
     * count toward the limit like the head itself. */
    while (p < e && (*p == '\n' || (*p == '\r' && e - p > 1 && p[1] == '\n')))
        p += *p == '\n' ? 1 : 2;
    const char *end = head_end(p, e);
    if (!end)
        return n > limit ? -431 : 0;

    const char *lf = memchr(p, '\n', (size_t)(end - p));
    int rc = request_line(p, lf, req);
    if (rc < 0)
        return rc;
    struct fields f = {0};
    p = lf + 1;
    /* The first line that is empty is the one head_end found: end[-1] is
     * LF, so p[1] exists whenever *p is CR. */
    while (!(*p == '\n' || (*p == '\r' && p[1] == '\n')))
        if ((rc = field_line(&p, end, &f)) < 0)
            return rc;
    if ((rc = judge(&f, req)) < 0)
        return rc;
    req->head_len = (size_t)(end - buf);
    return (int)req->head_len;
}

/* Chunked decoder (section 7.1):
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*("0") [ chunk-ext ] CRLF
 *   chunk-ext    = *( BWS ";" BWS name [ BWS "=" BWS value ] )
 *
 * Every byte but chunk data goes through chunk_step, one state per place
 * in this grammar; data is skipped in bulk by the caller. Extensions are
 * skipped up to the line end rejecting CTLs: no valid token or
 * quoted-string holds one, so the line end cannot hide inside them. */
enum chunk_state {
    CH_SIZE0,    /* the first hex digit of a chunk-size */
    CH_SIZE,     /* more digits, or BWS, ';' or the line end */
    CH_BWS,      /* whitespace after the size: more of it, then ';' */
    CH_EXT,      /* extensions, up to the line end */
    CH_SIZE_LF,  /* CR seen ending the size line */
    CH_DATA,     /* chunk data: `left` bytes */
    CH_DATA_CR,  /* the line end after chunk data */
    CH_DATA_LF,  /* CR seen after chunk data */
    CH_TR,       /* start of a trailer field line or of the final line */
    CH_TR_NAME,  /* trailer field name */
    CH_TR_VALUE, /* trailer field value, up to the line end */
    CH_TR_LF,    /* CR seen ending a trailer line */
    CH_END_LF,   /* CR seen on the final empty line */
    CH_DONE,
    CH_ERROR,
};

void http_chunked_init(struct http_chunked *c)
{
    memset(c, 0, sizeof *c);
    c->state = CH_SIZE0;
}

static int hex_value(unsigned char b)
{
    if ((unsigned)(b - '0') < 10)
        return b - '0';
    b |= 0x20;
    if ((unsigned)(b - 'a') < 6)
        return b - 'a' + 10;
    return -1;
}

static void line_start(struct http_chunked *c, uint8_t state)
{
    c->state = state;
    c->line = 0;
}

/* The size line is complete: on to its data, or to the trailers. */
static int chunk_start(struct http_chunked *c)
{
    if (c->left == 0) {
        line_start(c, CH_TR);
        return 0;
    }
    /* Section 7.1: guard against overflow; the total too, so a server
     * capping `body` can trust it. */
    if (c->left > UINT64_MAX - c->body)
        return -400;
    c->body += c->left;
    line_start(c, CH_DATA); /* the CRLF after the data starts a count */
    return 0;
}

/* A size line ends in CRLF or, as section 2.2 allows, a bare LF. */
static int size_line_end(struct http_chunked *c, unsigned char b)
{
    if (b == '\r') {
        c->state = CH_SIZE_LF;
        return 0;
    }
    return b == '\n' ? chunk_start(c) : -400;
}

static bool field_byte(unsigned char b)
{
    return b == '\t' || (b >= 0x20 && b != 0x7f);
}

/* One byte outside chunk data: 0 to go on, 1 at the end of the body,
 * -400 when it breaks the grammar. Long, but one case per state of enum
 * chunk_state, in grammar order. */
static int chunk_step(struct http_chunked *c, unsigned char b)
{
    if (++c->line > HTTP_CHUNK_LINE_MAX)
        return -400;
    switch (c->state) {
    case CH_SIZE0:
    case CH_SIZE: {
        int d = hex_value(b);
        if (d >= 0) {
            if (c->left > UINT64_MAX >> 4)
                return -400; /* 2^64 or more: section 7.1's overflow */
            c->left = c->left << 4 | (unsigned)d;
            c->state = CH_SIZE;
            return 0;
        }
        if (c->state == CH_SIZE0)
            return -400;
        if (OWS(b) || b == ';') {
            c->state = b == ';' ? CH_EXT : CH_BWS;
            return 0;
        }
        return size_line_end(c, b);
    }
    case CH_BWS:
        if (OWS(b))
            return 0;
        if (b != ';')
            return -400; /* BWS is only allowed before an extension */
        c->state = CH_EXT;
        return 0;
    case CH_EXT:
        return field_byte(b) ? 0 : size_line_end(c, b);
    case CH_SIZE_LF:
        return b == '\n' ? chunk_start(c) : -400;
    case CH_DATA_CR:
        if (b == '\r')
            c->state = CH_DATA_LF;
        else if (b == '\n')
            line_start(c, CH_SIZE0);
        else
            return -400;
        return 0;
    case CH_DATA_LF:
        if (b != '\n')
            return -400;
        line_start(c, CH_SIZE0);
        return 0;
    case CH_TR:
        if (b == '\r') {
            c->state = CH_END_LF;
            return 0;
        }
        if (b == '\n')
            return 1;
        /* A field name, as in the head: this also rejects obs-fold. */
        if (!IS(b, C_TCHAR))
            return -400;
        c->state = CH_TR_NAME;
        return 0;
    case CH_TR_NAME:
        if (IS(b, C_TCHAR))
            return 0;
        if (b != ':')
            return -400; /* section 5.1: nothing before the colon */
        c->state = CH_TR_VALUE;
        return 0;
    case CH_TR_VALUE:
        if (field_byte(b))
            return 0;
        if (b == '\r')
            c->state = CH_TR_LF;
        else if (b == '\n')
            line_start(c, CH_TR);
        else
            return -400;
        return 0;
    case CH_TR_LF:
        if (b != '\n')
            return -400;
        line_start(c, CH_TR);
        return 0;
    case CH_END_LF:
        return b == '\n' ? 1 : -400;
    }
    return -400;
}

int http_chunked_feed(struct http_chunked *c, const char *buf, size_t n,
                      size_t *used)
{
    if (c->state == CH_DONE || c->state == CH_ERROR) {
        *used = 0;
        return c->state == CH_DONE ? 1 : -400;
    }
    const char *p = buf, *e = buf + n;
    while (p < e) {
        if (c->state == CH_DATA) {
            size_t k = (size_t)(e - p);
            if (c->left < k)
                k = (size_t)c->left;
            p += k;
            c->left -= k;
            if (c->left == 0)
                c->state = CH_DATA_CR;
            continue;
        }
        int rc = chunk_step(c, (unsigned char)*p++);
        if (rc != 0) {
            c->state = rc > 0 ? CH_DONE : CH_ERROR;
            *used = (size_t)(p - buf);
            return rc;
        }
    }
    *used = n;
    return 0;
}
