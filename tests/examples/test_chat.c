/* examples/chat under real clients on loopback: hundreds of clients whose
 * every line must reach every other live client exactly once, clients
 * that stop reading (dropped, without slowing the others), clients that
 * vanish, the idle limit, and a clean stop on SIGINT. The clients are
 * tasks of this test process; the server is its own process. */
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"
#include "server_proc.h"

#define MS 1000000LL

static const char *chat = CIO_EXAMPLES_DIR "/chat";
static int port;

/* ---- a line reader ---------------------------------------------------------- */

struct conn {
    int fd;
    char buf[8192];
    size_t have, used;
};

static int dial(struct conn *c, int rcvbuf)
{
    c->have = c->used = 0;
    c->fd = cio_socket(AF_INET, SOCK_STREAM);
    if (c->fd < 0)
        return c->fd;
    if (rcvbuf)
        cio_sockopt_set(c->fd, CIO_SO_RCVBUF, rcvbuf);
    cio_addr a;
    CHECK_OK(cio_addr_ip(&a, "127.0.0.1", port));
    return cio_connect(c->fd, &a, cio_deadline_after(5000 * MS));
}

/* The next line (without its newline) in `line`; 1, 0 at end of stream,
 * or an error. */
static int next_line(struct conn *c, char *line, size_t cap, int64_t deadline)
{
    for (;;) {
        char *nl = memchr(c->buf + c->used, '\n', c->have - c->used);
        if (nl) {
            size_t len = (size_t)(nl - (c->buf + c->used));
            CHECK(len < cap);
            memcpy(line, c->buf + c->used, len);
            line[len] = 0;
            c->used += len + 1;
            return 1;
        }
        memmove(c->buf, c->buf + c->used, c->have - c->used);
        c->have -= c->used;
        c->used = 0;
        CHECK(c->have < sizeof c->buf);
        ssize_t n = cio_read(c->fd, c->buf + c->have,
                             sizeof c->buf - c->have, deadline);
        if (n <= 0)
            return (int)n;
        c->have += (size_t)n;
    }
}

static void say(struct conn *c, const char *text)
{
    size_t len = strlen(text);
    CHECK_EQ(cio_write_all(c->fd, text, len, NULL, CIO_NEVER), len);
}

/* Waits for the server's welcome: from then on every line reaches us. */
static void await_welcome(struct conn *c)
{
    char line[2048];
    CHECK_EQ(next_line(c, line, sizeof line, cio_deadline_after(10000 * MS)),
             1);
    CHECK(strncmp(line, "* welcome, client ", 18) == 0);
}

/* ---- many clients, exactly once -------------------------------------------- */

struct room {
    int talkers;             /* clients that talk and listen */
    int rounds;              /* lines each talker sends */
    int slow, vanishing;
    cio_event *ready_all;    /* every client welcomed */
    cio_wg *ready;
    cio_event *vanished;     /* the vanishing lines reached talker 0 */
    cio_wg *talking;         /* talkers still talking */
    atomic_int vanishing_seen_by_0;
    atomic_long delivered;   /* lines received by talkers */
};

#define PAD 600 /* bytes of padding per line: slow clients fill up fast */

static void talker_line(char *out, size_t cap, int id, int round)
{
    int n = snprintf(out, cap, "T %d %d ", id, round);
    for (int i = 0; i < PAD; i++)
        out[n + i] = (char)('a' + (id + round + i) % 26);
    out[n + PAD] = '\n';
    out[n + PAD + 1] = 0;
}

struct talker_arg {
    struct room *r;
    int id;
};

static void *talker(void *arg)
{
    struct talker_arg *a = arg;
    struct room *r = a->r;
    struct conn *c = malloc(sizeof *c);
    CHECK(c != NULL);
    CHECK_OK(dial(c, 0));
    await_welcome(c);
    CHECK_OK(cio_wg_done(r->ready));
    CHECK_OK(cio_event_wait(r->ready_all, CIO_NEVER));
    /* got[sender * rounds + round]: how often that line came */
    unsigned char *got = calloc((size_t)(r->talkers * r->rounds), 1);
    unsigned char vgot[64] = {0};
    CHECK(got != NULL);
    char line[2048], mine[2048];
    for (int round = 0; round < r->rounds; round++) {
        talker_line(mine, sizeof mine, a->id, round);
        say(c, mine);
        /* Read until every other talker's line of this round is in: no
         * talker gets more than a round ahead of the slowest. */
        for (;;) {
            bool all = true;
            for (int s = 0; s < r->talkers && all; s++)
                all = s == a->id || got[s * r->rounds + round];
            if (all)
                break;
            CHECK_EQ(next_line(c, line, sizeof line,
                               cio_deadline_after(20000 * MS)), 1);
            int from, rd, id, k;
            if (sscanf(line, "client %d: T %d %d %n", &from, &id, &rd, &k) ==
                3) {
                CHECK(id != a->id && id >= 0 && id < r->talkers);
                CHECK(rd >= 0 && rd < r->rounds);
                char want[2048];
                talker_line(want, sizeof want, id, rd);
                /* The line arrives whole and unchanged after the prefix. */
                (void)k;
                const char *body = strchr(line, 'T');
                CHECK_EQ(strlen(body), strlen(want) - 1);
                CHECK(strncmp(body, want, strlen(want) - 1) == 0);
                CHECK_EQ(++got[id * r->rounds + rd], 1);
                atomic_fetch_add(&r->delivered, 1);
            } else if (sscanf(line, "client %d: V %d", &from, &id) == 2) {
                CHECK(id >= 0 && id < r->vanishing);
                CHECK_EQ(++vgot[id], 1);
                if (a->id == 0)
                    atomic_fetch_add(&r->vanishing_seen_by_0, 1);
            } else {
                CHECK(line[0] == '*'); /* a notice from the server */
            }
        }
        if (a->id == 0 && round == 0) {
            /* Talker 0 is the witness that every vanishing line was
             * passed on (the hub hands a line to all queues at once). */
            while (atomic_load(&r->vanishing_seen_by_0) < r->vanishing) {
                CHECK_EQ(next_line(c, line, sizeof line,
                                   cio_deadline_after(20000 * MS)), 1);
                int from, id;
                if (sscanf(line, "client %d: V %d", &from, &id) == 2) {
                    CHECK_EQ(++vgot[id], 1);
                    atomic_fetch_add(&r->vanishing_seen_by_0, 1);
                } else {
                    int rd, k;
                    CHECK(sscanf(line, "client %d: T %d %d %n", &from, &id,
                                 &rd, &k) == 3);
                    CHECK_EQ(++got[id * r->rounds + rd], 1);
                    atomic_fetch_add(&r->delivered, 1);
                }
            }
            CHECK_OK(cio_event_set(r->vanished));
        }
    }
    /* Every vanishing line exactly once, also for talkers that had not
     * seen them yet: they come before the end-of-test lines. */
    CHECK_OK(cio_event_wait(r->vanished, CIO_NEVER));
    say(c, "E\n");
    int ends = 0;
    while (ends < r->talkers - 1) {
        CHECK_EQ(next_line(c, line, sizeof line,
                           cio_deadline_after(20000 * MS)), 1);
        int from, id, rd, k;
        if (strstr(line, ": E") && strlen(strstr(line, ": E")) == 3)
            ends++;
        else if (sscanf(line, "client %d: V %d", &from, &id) == 2)
            CHECK_EQ(++vgot[id], 1);
        else if (sscanf(line, "client %d: T %d %d %n", &from, &id, &rd,
                        &k) == 3)
            CHECK_EQ(++got[id * r->rounds + rd], 1);
    }
    for (int v = 0; v < r->vanishing; v++)
        CHECK_EQ(vgot[v], 1);
    for (int s = 0; s < r->talkers; s++)
        for (int rd = 0; rd < r->rounds; rd++)
            CHECK_EQ(got[s * r->rounds + rd], s == a->id ? 0 : 1);
    free(got);
    cio_close(c->fd);
    free(c);
    CHECK_OK(cio_wg_done(r->talking));
    return NULL;
}

/* Connects, never reads: must be dropped, never slowing the others. */
static void *slow_client(void *arg)
{
    struct room *r = arg;
    struct conn *c = malloc(sizeof *c);
    CHECK(c != NULL);
    CHECK_OK(dial(c, 4096));
    await_welcome(c);
    CHECK_OK(cio_wg_done(r->ready));
    CHECK_OK(cio_event_wait(r->ready_all, CIO_NEVER));
    /* Once every talker is done (none was held up by this client): read
     * what is left; the server must have cut us off (end of stream). */
    CHECK_OK(cio_wg_wait(r->talking, CIO_NEVER));
    char line[2048];
    int rc;
    long lines = 0;
    while ((rc = next_line(c, line, sizeof line,
                           cio_deadline_after(20000 * MS))) == 1)
        lines++;
    if (rc != 0 && rc != CIO_ECONNRESET)
        fprintf(stderr, "slow client: %s after %ld lines\n",
                cio_err_name(rc), lines);
    CHECK(rc == 0 || rc == CIO_ECONNRESET);
    CHECK(lines < (long)r->talkers * r->rounds);
    cio_close(c->fd);
    free(c);
    return NULL;
}

struct vanish_arg {
    struct room *r;
    int id;
};

/* Says one line and goes: half close politely, half reset. */
static void *vanishing_client(void *arg)
{
    struct vanish_arg *a = arg;
    struct conn *c = malloc(sizeof *c);
    CHECK(c != NULL);
    CHECK_OK(dial(c, 0));
    await_welcome(c);
    CHECK_OK(cio_wg_done(a->r->ready));
    CHECK_OK(cio_event_wait(a->r->ready_all, CIO_NEVER));
    char text[64];
    snprintf(text, sizeof text, "V %d\n", a->id);
    say(c, text);
    CHECK_OK(cio_event_wait(a->r->vanished, CIO_NEVER));
    if (a->id % 2)
        cio_sockopt_set(c->fd, CIO_SO_LINGER, 0); /* reset at close */
    cio_close(c->fd);
    free(c);
    return NULL;
}

static int main_room(void *arg)
{
    struct room *r = arg;
    CHECK_OK(cio_event_make(&r->ready_all));
    CHECK_OK(cio_event_make(&r->vanished));
    CHECK_OK(cio_wg_make(&r->ready));
    CHECK_OK(cio_wg_make(&r->talking));
    CHECK_OK(cio_wg_add(r->talking, r->talkers));
    int total = r->talkers + r->slow + r->vanishing;
    CHECK_OK(cio_wg_add(r->ready, total));
    cio_group *g;
    CHECK_OK(cio_group_make(&g, NULL));
    struct talker_arg *ta = calloc((size_t)r->talkers, sizeof *ta);
    struct vanish_arg *va = calloc((size_t)r->vanishing, sizeof *va);
    cio_task *t = calloc((size_t)total, sizeof *t);
    int n = 0;
    for (int i = 0; i < r->talkers; i++) {
        ta[i] = (struct talker_arg){r, i};
        CHECK_OK(cio_spawn(&t[n++], talker, &ta[i], NULL));
    }
    for (int i = 0; i < r->slow; i++)
        CHECK_OK(cio_spawn(&t[n++], slow_client, r, NULL));
    for (int i = 0; i < r->vanishing; i++) {
        va[i] = (struct vanish_arg){r, i};
        CHECK_OK(cio_spawn(&t[n++], vanishing_client, &va[i], NULL));
    }
    CHECK_OK(cio_wg_wait(r->ready, cio_deadline_after(20000 * MS)));
    CHECK_OK(cio_event_set(r->ready_all));
    for (int i = 0; i < n; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK_EQ(atomic_load(&r->delivered) > 0, 1);
    free(t);
    free(ta);
    free(va);
    CHECK_OK(cio_group_free(&g));
    CHECK_OK(cio_wg_free(&r->ready));
    CHECK_OK(cio_wg_free(&r->talking));
    CHECK_OK(cio_event_free(&r->ready_all));
    CHECK_OK(cio_event_free(&r->vanished));
    return 0;
}

CIO_TEST(chat_every_line_reaches_every_live_client_once)
{
    (void)state;
    const char *args[] = {"-w", "2", NULL};
    struct server s = start(chat, args, 0);
    port = s.port;
    bool slow = cio_test_sanitized();
    struct room r = {.talkers = slow ? 60 : 200,
                     .rounds = slow ? 10 : 4,
                     .slow = 4,
                     .vanishing = 6};
    cio_test_run(main_room, &r, 2, 0);
    assert_int_equal(stop_with(&s, SIGINT), 0);
}

/* ---- idle clients ------------------------------------------------------------ */

static void *idle_client(void *arg)
{
    (void)arg;
    struct conn c;
    CHECK_OK(dial(&c, 0));
    await_welcome(&c);
    int64_t t0 = cio_now();
    char line[256];
    do /* the chatty client's lines come too: listening is not talking */
        CHECK_EQ(next_line(&c, line, sizeof line,
                           cio_deadline_after(5000 * MS)), 1);
    while (strncmp(line, "client ", 7) == 0);
    CHECK(strcmp(line, "* idle for too long, bye") == 0);
    CHECK_EQ(next_line(&c, line, sizeof line, cio_deadline_after(5000 * MS)),
             0);
    CHECK(cio_now() - t0 >= 150 * MS);
    cio_close(c.fd);
    return NULL;
}

static void *chatty_client(void *arg)
{
    (void)arg;
    struct conn c;
    CHECK_OK(dial(&c, 0));
    await_welcome(&c);
    /* A line every 50 ms keeps it on well past the 200 ms limit. */
    for (int i = 0; i < 12; i++) {
        say(&c, "still here\n");
        CHECK_OK(cio_sleep_until(cio_deadline_after(50 * MS)));
    }
    char line[256];
    int rc;
    while ((rc = next_line(&c, line, sizeof line, 0)) == 1)
        CHECK(strcmp(line, "* idle for too long, bye") != 0);
    CHECK_ERR(rc, CIO_ETIMEDOUT); /* nothing more, and not closed */
    cio_close(c.fd);
    return NULL;
}

static int main_idle(void *arg)
{
    (void)arg;
    cio_task a, b;
    CHECK_OK(cio_spawn(&a, idle_client, NULL, NULL));
    CHECK_OK(cio_spawn(&b, chatty_client, NULL, NULL));
    CHECK_OK(cio_join(a, NULL, CIO_NEVER));
    CHECK_OK(cio_join(b, NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(chat_disconnects_idle_clients)
{
    (void)state;
    const char *args[] = {"-i", "200", NULL};
    struct server s = start(chat, args, 0);
    port = s.port;
    cio_test_run(main_idle, NULL, 2, 0);
    assert_int_equal(stop(&s), 0);
}

/* ---- SIGINT ------------------------------------------------------------------- */

static atomic_int welcomed;

static void *stopped_client(void *arg)
{
    (void)arg;
    struct conn c;
    CHECK_OK(dial(&c, 0));
    await_welcome(&c);
    atomic_fetch_add(&welcomed, 1);
    char line[256];
    CHECK_EQ(next_line(&c, line, sizeof line, cio_deadline_after(10000 * MS)),
             1);
    CHECK(strcmp(line, "* server stopping, bye") == 0);
    CHECK_EQ(next_line(&c, line, sizeof line, cio_deadline_after(10000 * MS)),
             0);
    cio_close(c.fd);
    return NULL;
}

static int main_sigint(void *arg)
{
    struct server *s = arg;
    enum { N = 20 };
    cio_task t[N];
    atomic_store(&welcomed, 0);
    for (int i = 0; i < N; i++)
        CHECK_OK(cio_spawn(&t[i], stopped_client, NULL, NULL));
    while (atomic_load(&welcomed) < N)
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
    kill(s->pid, SIGINT);
    for (int i = 0; i < N; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    return 0;
}

CIO_TEST(chat_stops_cleanly_on_sigint)
{
    (void)state;
    struct server s = start(chat, NULL, 0);
    port = s.port;
    cio_test_run(main_sigint, &s, 2, 0);
    /* It stops by itself (a second SIGINT, once cio_run has returned and
     * put back the default action, would end it by the signal). */
    assert_int_equal(stop_with(&s, 0), 0);
}

CIO_TEST_MAIN(cmocka_unit_test(chat_every_line_reaches_every_live_client_once),
              cmocka_unit_test(chat_disconnects_idle_clients),
              cmocka_unit_test(chat_stops_cleanly_on_sigint))
