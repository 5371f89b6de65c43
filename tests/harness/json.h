/* A strict JSON reader for tests that check files the library writes
 * (traces): RFC 8259 values into a tree; anything else is a parse error
 * with its offset. Not for production: recursion, no streaming. */
#ifndef CIO_TEST_JSON_H
#define CIO_TEST_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ };

struct json {
    enum json_type type;
    bool b;
    double num;
    char *str;           /* JSON_STR (decoded; \u escapes to UTF-8) */
    struct json **items; /* JSON_ARR and JSON_OBJ values */
    char **keys;         /* JSON_OBJ keys */
    size_t n;
};

/* Parses all of `text` (one value, whitespace around it). NULL on error,
 * with the byte offset in *err_at. */
struct json *json_parse(const char *text, size_t len, size_t *err_at);
/* Reads a whole file and parses it; NULL if it cannot be read or parsed
 * (a message on stderr says which). */
struct json *json_parse_file(const char *path);
void json_free(struct json *j);

/* The member `key` of an object, or NULL (also when `j` is no object). */
struct json *json_get(const struct json *j, const char *key);
/* A string member's value or NULL; a number member's value or `dflt`. */
const char *json_str(const struct json *j, const char *key);
double json_num(const struct json *j, const char *key, double dflt);

#endif /* CIO_TEST_JSON_H */
