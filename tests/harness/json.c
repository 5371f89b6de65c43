/* See json.h. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rd {
    const char *p, *end, *start;
    bool bad;
};

static void ws(struct rd *r)
{
    while (r->p < r->end &&
           (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static struct json *node(enum json_type t)
{
    struct json *j = calloc(1, sizeof *j);
    if (j)
        j->type = t;
    return j;
}

static struct json *value(struct rd *r, int depth);

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Bytes of the well-formed UTF-8 character at `p` (before `end`), or 0:
 * JSON text is UTF-8 (RFC 8259, section 8.1). */
static int utf8_char(const char *p, const char *end)
{
    const unsigned char *s = (const unsigned char *)p;
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                       : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (n <= 1 || end - p < n)
        return n <= 1 ? n : 0;
    unsigned v = c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    return n;
}

static char *string(struct rd *r)
{
    if (r->p >= r->end || *r->p != '"')
        return NULL;
    r->p++;
    size_t cap = 16, n = 0;
    char *s = malloc(cap);
    while (s && r->p < r->end && *r->p != '"') {
        unsigned char c = (unsigned char)*r->p;
        char out[4];
        size_t k = 1;
        out[0] = (char)c;
        if (c < 0x20)
            goto bad;
        if (c >= 0x80) {
            int u = utf8_char(r->p, r->end);
            if (!u)
                goto bad;
            k = (size_t)u;
            memcpy(out, r->p, k);
        }
        r->p += k;
        if (c == '\\') {
            if (r->p >= r->end)
                goto bad;
            char e = *r->p++;
            switch (e) {
            case '"': case '\\': case '/': out[0] = e; break;
            case 'b': out[0] = '\b'; break;
            case 'f': out[0] = '\f'; break;
            case 'n': out[0] = '\n'; break;
            case 'r': out[0] = '\r'; break;
            case 't': out[0] = '\t'; break;
            case 'u': {
                if (r->end - r->p < 4)
                    goto bad;
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(r->p[i]);
                    if (h < 0)
                        goto bad;
                    v = v << 4 | (unsigned)h;
                }
                r->p += 4;
                if (v < 0x80) {
                    out[0] = (char)v;
                } else if (v < 0x800) {
                    out[0] = (char)(0xc0 | v >> 6);
                    out[1] = (char)(0x80 | (v & 0x3f));
                    k = 2;
                } else {
                    out[0] = (char)(0xe0 | v >> 12);
                    out[1] = (char)(0x80 | (v >> 6 & 0x3f));
                    out[2] = (char)(0x80 | (v & 0x3f));
                    k = 3;
                }
                break;
            }
            default:
                goto bad;
            }
        }
        if (n + k + 1 > cap) {
            cap *= 2;
            char *ns = realloc(s, cap);
            if (!ns)
                goto bad;
            s = ns;
        }
        memcpy(s + n, out, k);
        n += k;
    }
    if (!s || r->p >= r->end)
        goto bad;
    r->p++; /* closing quote */
    s[n] = 0;
    return s;
bad:
    free(s);
    r->bad = true;
    return NULL;
}

static bool add(struct json *j, char *key, struct json *v)
{
    /* Capacity doubles from 16 (n is a power of two times 16 exactly
     * when the array is full), so a trace's hundreds of thousands of
     * events are not copied over and over. */
    if (j->n == 0 || (j->n >= 16 && (j->n & (j->n - 1)) == 0)) {
        size_t cap = j->n ? 2 * j->n : 16;
        struct json **ni = realloc(j->items, cap * sizeof *ni);
        if (!ni)
            return false;
        j->items = ni;
        if (j->type == JSON_OBJ) {
            char **nk = realloc(j->keys, cap * sizeof *nk);
            if (!nk)
                return false;
            j->keys = nk;
        }
    }
    if (j->type == JSON_OBJ)
        j->keys[j->n] = key;
    j->items[j->n++] = v;
    return true;
}

static struct json *number(struct rd *r)
{
    const char *s = r->p;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return NULL;
    if (*r->p == '0')
        r->p++;
    else
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return NULL;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9')
            return NULL;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    }
    char buf[64];
    size_t len = (size_t)(r->p - s);
    if (len >= sizeof buf)
        return NULL;
    memcpy(buf, s, len);
    buf[len] = 0;
    struct json *j = node(JSON_NUM);
    if (j)
        j->num = strtod(buf, NULL);
    return j;
}

static bool word(struct rd *r, const char *w)
{
    size_t k = strlen(w);
    if ((size_t)(r->end - r->p) < k || memcmp(r->p, w, k))
        return false;
    r->p += k;
    return true;
}

static struct json *value(struct rd *r, int depth)
{
    if (depth > 64)
        return NULL;
    ws(r);
    if (r->p >= r->end)
        return NULL;
    struct json *j = NULL;
    char c = *r->p;
    if (c == '{' || c == '[') {
        bool obj = c == '{';
        j = node(obj ? JSON_OBJ : JSON_ARR);
        r->p++;
        ws(r);
        if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
            r->p++;
            return j;
        }
        for (;;) {
            char *key = NULL;
            if (obj) {
                ws(r);
                key = string(r);
                ws(r);
                if (!key || r->p >= r->end || *r->p != ':') {
                    free(key);
                    goto bad;
                }
                r->p++;
            }
            struct json *v = value(r, depth + 1);
            if (!v || !add(j, key, v)) {
                free(key);
                json_free(v);
                goto bad;
            }
            ws(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
                r->p++;
                return j;
            }
            goto bad;
        }
    }
    if (c == '"') {
        j = node(JSON_STR);
        if (j && !(j->str = string(r)))
            goto bad;
        return j;
    }
    if (word(r, "true") || word(r, "false")) {
        j = node(JSON_BOOL);
        if (j)
            j->b = r->p[-1] == 'e' && r->p[-2] == 'u';
        return j;
    }
    if (word(r, "null"))
        return node(JSON_NULL);
    return number(r);
bad:
    json_free(j);
    return NULL;
}

struct json *json_parse(const char *text, size_t len, size_t *err_at)
{
    struct rd r = {.p = text, .end = text + len, .start = text};
    struct json *j = value(&r, 0);
    ws(&r);
    if (!j || r.p != r.end) {
        json_free(j);
        if (err_at)
            *err_at = (size_t)(r.p - text);
        return NULL;
    }
    return j;
}

struct json *json_parse_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "json: cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    size_t at = 0;
    struct json *j = json_parse(buf, n, &at);
    if (!j)
        fprintf(stderr, "json: %s: not valid JSON at byte %zu of %zu: %.40s\n",
                path, at, n, buf + (at < n ? at : n));
    free(buf);
    return j;
}

void json_free(struct json *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        json_free(j->items[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
    free(j);
}

struct json *json_get(const struct json *j, const char *key)
{
    if (!j || j->type != JSON_OBJ)
        return NULL;
    for (size_t i = 0; i < j->n; i++)
        if (strcmp(j->keys[i], key) == 0)
            return j->items[i];
    return NULL;
}

const char *json_str(const struct json *j, const char *key)
{
    struct json *v = json_get(j, key);
    return v && v->type == JSON_STR ? v->str : NULL;
}

double json_num(const struct json *j, const char *key, double dflt)
{
    struct json *v = json_get(j, key);
    return v && v->type == JSON_NUM ? v->num : dflt;
}
