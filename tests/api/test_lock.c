/* Mutexes, condition variables and reader-writer locks: exclusion across
 * workers and plain threads, hand-off order, no starvation, a holder that
 * ends while holding, deadlines, cancels and bad input. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

#define MS 1000000LL

/* ---- exclusion ------------------------------------------------------------ */

struct counter {
    cio_mutex *m;
    long value;      /* guarded by m, deliberately not atomic */
    int inside;      /* guarded by m: more than 1 would be a breach */
    long per_task;
};

static void add_many(struct counter *c)
{
    for (long i = 0; i < c->per_task; i++) {
        CHECK_OK(cio_mutex_lock(c->m, CIO_NEVER));
        CHECK_EQ(++c->inside, 1);
        c->value++;
        if (i % 64 == 0 && cio_self().id)
            cio_yield(); /* held across a switch: others must wait */
        c->inside--;
        CHECK_OK(cio_mutex_unlock(c->m));
    }
}

static void *adder_task(void *arg)
{
    add_many(arg);
    return NULL;
}

static void *adder_thread(void *arg)
{
    add_many(arg);
    return NULL;
}

static int main_exclusion(void *arg)
{
    (void)arg;
    enum { TASKS = 8 };
    struct counter c = {.per_task = cio_test_sanitized() ? 2000 : 20000};
    CHECK_OK(cio_mutex_make(&c.m));
    cio_task t[TASKS];
    for (int i = 0; i < TASKS; i++) {
        cio_spawn_opts o;
        cio_spawn_opts_init(&o);
        o.flags = i % 2 ? CIO_SPAWN_MIGRATE : 0;
        CHECK_OK(cio_spawn(&t[i], adder_task, &c, &o));
    }
    pthread_t th;
    CHECK(pthread_create(&th, NULL, adder_thread, &c) == 0);
    for (int i = 0; i < TASKS; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    pthread_join(th, NULL);
    CHECK_EQ(c.value, (TASKS + 1) * c.per_task);
    CHECK_OK(cio_mutex_free(&c.m));
    CHECK(c.m == NULL);
    return 0;
}

CIO_TEST(mutex_excludes_tasks_on_all_workers_and_a_thread)
{
    (void)state;
    cio_test_run(main_exclusion, NULL, 4, 0);
}

/* ---- hand-off order --------------------------------------------------------- */

struct order {
    cio_mutex *m;
    int got[8];
    int n;
};

struct order_arg {
    struct order *o;
    int id;
};

static void *take_in_turn(void *arg)
{
    struct order_arg *a = arg;
    CHECK_OK(cio_mutex_lock(a->o->m, CIO_NEVER));
    a->o->got[a->o->n++] = a->id;
    CHECK_OK(cio_mutex_unlock(a->o->m));
    return NULL;
}

static int main_order(void *arg)
{
    (void)arg;
    struct order o = {0};
    CHECK_OK(cio_mutex_make(&o.m));
    CHECK_OK(cio_mutex_lock(o.m, CIO_NEVER));
    struct order_arg a[8];
    cio_task t[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (struct order_arg){&o, i};
        CHECK_OK(cio_spawn(&t[i], take_in_turn, &a[i], NULL));
        /* One worker: the task runs, finds the lock held and queues
         * before the next is spawned. */
        CHECK_OK(cio_yield());
    }
    CHECK_OK(cio_mutex_unlock(o.m));
    for (int i = 0; i < 8; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK_EQ(o.n, 8);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(o.got[i], i);
    CHECK_OK(cio_mutex_free(&o.m));
    return 0;
}

CIO_TEST(mutex_serves_waiters_in_arrival_order)
{
    (void)state;
    cio_test_run(main_order, NULL, 1, 0);
}

/* A hog holds the lock across a yield and relocks the moment it unlocks;
 * on one worker, the woken waiter always runs to find it taken again.
 * Only the hand-over after 1 ms gets the waiter in. */
struct hog {
    cio_mutex *m;
    atomic_int stop;
    atomic_long rounds;
};

static void *hog_main(void *arg)
{
    struct hog *h = arg;
    while (!atomic_load(&h->stop)) {
        CHECK_OK(cio_mutex_lock(h->m, CIO_NEVER));
        CHECK_OK(cio_yield());
        atomic_fetch_add(&h->rounds, 1);
        CHECK_OK(cio_mutex_unlock(h->m));
    }
    return NULL;
}

static void *starved_main(void *arg)
{
    struct hog *h = arg;
    for (int i = 0; i < 5; i++) {
        CHECK_OK(cio_mutex_lock(h->m, cio_deadline_after(3000 * MS)));
        CHECK_OK(cio_mutex_unlock(h->m));
    }
    atomic_store(&h->stop, 1);
    return NULL;
}

static int main_starve(void *arg)
{
    (void)arg;
    struct hog h = {0};
    CHECK_OK(cio_mutex_make(&h.m));
    cio_task hog, waiter;
    CHECK_OK(cio_spawn(&hog, hog_main, &h, NULL));
    CHECK_OK(cio_yield());
    CHECK_OK(cio_spawn(&waiter, starved_main, &h, NULL));
    CHECK_OK(cio_join(waiter, NULL, CIO_NEVER));
    CHECK_OK(cio_join(hog, NULL, CIO_NEVER));
    CHECK(atomic_load(&h.rounds) > 0);
    CHECK_OK(cio_mutex_free(&h.m));
    return 0;
}

CIO_TEST(mutex_busy_lock_cannot_starve_a_waiter)
{
    (void)state;
    cio_test_run(main_starve, NULL, 1, 0);
}

/* ---- a holder that ends ---------------------------------------------------- */

static void *lock_and_leave(void *arg)
{
    CHECK_OK(cio_mutex_lock(arg, CIO_NEVER));
    return NULL; /* still holding it */
}

struct leaver {
    cio_mutex *m;
    cio_event *locked, *leave;
};

static void *lock_wait_and_leave(void *arg)
{
    struct leaver *l = arg;
    CHECK_OK(cio_mutex_lock(l->m, CIO_NEVER));
    CHECK_OK(cio_event_set(l->locked));
    CHECK_OK(cio_event_wait(l->leave, CIO_NEVER));
    return NULL; /* still holding it */
}

static void *wait_for_abandoned(void *arg)
{
    CHECK_ERR(cio_mutex_lock(arg, CIO_NEVER), CIO_EOWNERDEAD);
    CHECK_OK(cio_mutex_unlock(arg));
    return NULL;
}

static int main_abandon(void *arg)
{
    (void)arg;
    cio_mutex *m;
    CHECK_OK(cio_mutex_make(&m));
    cio_task t;
    CHECK_OK(cio_spawn(&t, lock_and_leave, m, NULL));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    /* Reported once, to the next holder, who holds the lock. */
    CHECK_ERR(cio_mutex_lock(m, CIO_NEVER), CIO_EOWNERDEAD);
    CHECK_OK(cio_mutex_unlock(m));
    CHECK_OK(cio_mutex_lock(m, CIO_NEVER));
    CHECK_OK(cio_mutex_unlock(m));

    /* A waiter parked while the holder ends is woken with the report. */
    struct leaver l = {.m = m};
    CHECK_OK(cio_event_make(&l.locked));
    CHECK_OK(cio_event_make(&l.leave));
    cio_task holder, w;
    CHECK_OK(cio_spawn(&holder, lock_wait_and_leave, &l, NULL));
    CHECK_OK(cio_event_wait(l.locked, CIO_NEVER));
    CHECK_OK(cio_spawn(&w, wait_for_abandoned, m, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(5 * MS)));
    CHECK_OK(cio_event_set(l.leave));
    CHECK_OK(cio_join(holder, NULL, CIO_NEVER));
    CHECK_OK(cio_join(w, NULL, CIO_NEVER));
    CHECK_OK(cio_event_free(&l.locked));
    CHECK_OK(cio_event_free(&l.leave));
    CHECK_OK(cio_mutex_free(&m));
    return 0;
}

CIO_TEST(mutex_held_by_an_ending_task_is_reported)
{
    (void)state;
    cio_test_run(main_abandon, NULL, 2, 0);
}

/* ---- deadlines, cancels, misuse ------------------------------------------ */

static void *lock_forever(void *arg)
{
    CHECK_ERR(cio_mutex_lock(arg, CIO_NEVER), CIO_ECANCELED);
    return NULL;
}

static void *unlock_not_mine(void *arg)
{
    CHECK_ERR(cio_mutex_unlock(arg), CIO_EPERM);
    CHECK_ERR(cio_mutex_try_lock(arg), CIO_EAGAIN);
    return NULL;
}

static int main_mutex_errors(void *arg)
{
    (void)arg;
    cio_mutex *m;
    CHECK_OK(cio_mutex_make(&m));
    CHECK_ERR(cio_mutex_unlock(m), CIO_EPERM); /* nobody holds it */
    CHECK_OK(cio_mutex_try_lock(m));
    CHECK_ERR(cio_mutex_lock(m, CIO_NEVER), CIO_EDEADLK);
    CHECK_ERR(cio_mutex_try_lock(m), CIO_EDEADLK);
    CHECK_ERR(cio_mutex_free(&m), CIO_EBUSY);
    CHECK_ERR(cio_mutex_lock(m, cio_deadline_after(0)), CIO_EDEADLK);

    cio_task t;
    CHECK_OK(cio_spawn(&t, unlock_not_mine, m, NULL));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_OK(cio_spawn(&t, lock_forever, m, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(5 * MS)));
    CHECK_OK(cio_cancel(t));
    CHECK_OK(cio_join(t, NULL, CIO_NEVER));
    CHECK_OK(cio_mutex_unlock(m));
    /* The cancelled waiter left nothing behind: the lock is free. */
    CHECK_OK(cio_mutex_try_lock(m));
    CHECK_OK(cio_mutex_unlock(m));
    CHECK_OK(cio_mutex_free(&m));
    CHECK_ERR(cio_mutex_free(&m), CIO_EINVAL);
    return 0;
}

static void *timed_locker(void *arg)
{
    int64_t t0 = cio_now();
    CHECK_ERR(cio_mutex_lock(arg, cio_deadline_after(20 * MS)),
              CIO_ETIMEDOUT);
    CHECK(cio_now() - t0 >= 20 * MS);
    return NULL;
}

static int main_mutex_deadline(void *arg)
{
    (void)arg;
    cio_mutex *m;
    CHECK_OK(cio_mutex_make(&m));
    CHECK_OK(cio_mutex_lock(m, CIO_NEVER));
    cio_task t[4];
    for (int i = 0; i < 4; i++)
        CHECK_OK(cio_spawn(&t[i], timed_locker, m, NULL));
    for (int i = 0; i < 4; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK_OK(cio_mutex_unlock(m));
    CHECK_OK(cio_mutex_free(&m));
    return 0;
}

CIO_TEST(mutex_deadline_cancel_and_misuse)
{
    (void)state;
    cio_test_run(main_mutex_errors, NULL, 2, 0);
    cio_test_run(main_mutex_deadline, NULL, 2, 0);
    ASSERT_ERR(cio_mutex_make(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_mutex_lock(NULL, 0), CIO_EINVAL);
    ASSERT_ERR(cio_mutex_unlock(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_mutex_free(NULL), CIO_EINVAL);
    /* A plain thread may use a mutex; it blocks while waiting. */
    cio_mutex *m;
    assert_int_equal(cio_mutex_make(&m), 0);
    assert_int_equal(cio_mutex_lock(m, CIO_NEVER), 0);
    ASSERT_ERR(cio_mutex_lock(m, 0), CIO_EDEADLK);
    assert_int_equal(cio_mutex_unlock(m), 0);
    assert_int_equal(cio_mutex_free(&m), 0);
}

/* ---- condition variables -------------------------------------------------- */

struct box {
    cio_mutex *m;
    cio_cond *c;
    int items;        /* guarded by m */
    int taken;        /* guarded by m */
    bool done;        /* guarded by m */
};

static void *box_taker(void *arg)
{
    struct box *b = arg;
    CHECK_OK(cio_mutex_lock(b->m, CIO_NEVER));
    for (;;) {
        while (b->items == 0 && !b->done)
            CHECK_OK(cio_cond_wait(b->c, b->m, CIO_NEVER));
        if (b->items == 0)
            break;
        b->items--;
        b->taken++;
    }
    CHECK_OK(cio_mutex_unlock(b->m));
    return NULL;
}

static void *cond_timeout(void *arg)
{
    struct box *b = arg;
    CHECK_OK(cio_mutex_lock(b->m, CIO_NEVER));
    CHECK_ERR(cio_cond_wait(b->c, b->m, cio_deadline_after(5 * MS)),
              CIO_ETIMEDOUT);
    /* The mutex is held again. */
    CHECK_OK(cio_mutex_unlock(b->m));
    return NULL;
}

static void *cond_cancelled(void *arg)
{
    struct box *b = arg;
    CHECK_OK(cio_mutex_lock(b->m, CIO_NEVER));
    CHECK_ERR(cio_cond_wait(b->c, b->m, CIO_NEVER), CIO_ECANCELED);
    CHECK_OK(cio_mutex_unlock(b->m));
    return NULL;
}

static int main_cond(void *arg)
{
    (void)arg;
    struct box b = {0};
    CHECK_OK(cio_mutex_make(&b.m));
    CHECK_OK(cio_cond_make(&b.c));
    enum { TAKERS = 6, ITEMS = 3000 };
    cio_task t[TAKERS];
    for (int i = 0; i < TAKERS; i++)
        CHECK_OK(cio_spawn(&t[i], box_taker, &b, NULL));
    for (int i = 0; i < ITEMS; i++) {
        CHECK_OK(cio_mutex_lock(b.m, CIO_NEVER));
        b.items++;
        CHECK_OK(cio_mutex_unlock(b.m));
        CHECK_OK(cio_cond_signal(b.c));
        if (i % 100 == 0)
            CHECK_OK(cio_yield());
    }
    CHECK_OK(cio_mutex_lock(b.m, CIO_NEVER));
    b.done = true;
    CHECK_OK(cio_mutex_unlock(b.m));
    CHECK_OK(cio_cond_broadcast(b.c));
    for (int i = 0; i < TAKERS; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK_EQ(b.taken, ITEMS);

    cio_task x;
    CHECK_OK(cio_spawn(&x, cond_timeout, &b, NULL));
    CHECK_OK(cio_join(x, NULL, CIO_NEVER));
    CHECK_OK(cio_spawn(&x, cond_cancelled, &b, NULL));
    CHECK_OK(cio_sleep_until(cio_deadline_after(5 * MS)));
    /* Hold the mutex while cancelling: the waiter must relock it, so it
     * can return only after this unlock. */
    CHECK_OK(cio_mutex_lock(b.m, CIO_NEVER));
    CHECK_OK(cio_cancel(x));
    CHECK_OK(cio_sleep_until(cio_deadline_after(5 * MS)));
    CHECK_OK(cio_mutex_unlock(b.m));
    CHECK_OK(cio_join(x, NULL, CIO_NEVER));

    /* Waiting without holding the mutex is refused. */
    CHECK_ERR(cio_cond_wait(b.c, b.m, 0), CIO_EPERM);
    CHECK_OK(cio_cond_free(&b.c));
    CHECK_OK(cio_mutex_free(&b.m));
    return 0;
}

CIO_TEST(cond_signal_broadcast_deadline_cancel)
{
    (void)state;
    cio_test_run(main_cond, NULL, 2, 0);
    ASSERT_ERR(cio_cond_make(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_cond_signal(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_cond_wait(NULL, NULL, 0), CIO_EINVAL);
    ASSERT_ERR(cio_cond_free(NULL), CIO_EINVAL);
}

/* ---- reader-writer locks ------------------------------------------------- */

struct rw {
    cio_rwlock *l;
    atomic_int readers, writers, most_readers;
    atomic_int stop;
    char log[16];
    atomic_int n;
};

static void *reader_loop(void *arg)
{
    struct rw *r = arg;
    while (!atomic_load(&r->stop)) {
        CHECK_OK(cio_rwlock_rdlock(r->l, CIO_NEVER));
        int now = atomic_fetch_add(&r->readers, 1) + 1;
        CHECK_EQ(atomic_load(&r->writers), 0);
        int most = atomic_load(&r->most_readers);
        while (now > most &&
               !atomic_compare_exchange_weak(&r->most_readers, &most, now))
            ;
        /* Readers overlap all the time: without arrival order a writer
         * would never find the lock free. */
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS)));
        atomic_fetch_sub(&r->readers, 1);
        CHECK_OK(cio_rwlock_unlock(r->l));
    }
    return NULL;
}

static int main_rw_writer_not_starved(void *arg)
{
    (void)arg;
    struct rw r = {0};
    CHECK_OK(cio_rwlock_make(&r.l));
    enum { READERS = 6 };
    cio_task t[READERS];
    for (int i = 0; i < READERS; i++) {
        CHECK_OK(cio_spawn(&t[i], reader_loop, &r, NULL));
        CHECK_OK(cio_sleep_until(cio_deadline_after(MS / 3)));
    }
    for (int i = 0; i < 20; i++) {
        CHECK_OK(cio_rwlock_wrlock(r.l, cio_deadline_after(2000 * MS)));
        atomic_fetch_add(&r.writers, 1);
        CHECK_EQ(atomic_load(&r.readers), 0);
        atomic_fetch_sub(&r.writers, 1);
        CHECK_OK(cio_rwlock_unlock(r.l));
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < READERS; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK(atomic_load(&r.most_readers) > 1);
    CHECK_OK(cio_rwlock_free(&r.l));
    return 0;
}

CIO_TEST(rwlock_readers_share_and_writer_is_not_starved)
{
    (void)state;
    cio_test_run(main_rw_writer_not_starved, NULL, 2, 0);
}

struct rw_step {
    struct rw *r;
    char name;
    bool write;
};

static void *rw_enter(void *arg)
{
    struct rw_step *s = arg;
    if (s->write)
        CHECK_OK(cio_rwlock_wrlock(s->r->l, CIO_NEVER));
    else
        CHECK_OK(cio_rwlock_rdlock(s->r->l, CIO_NEVER));
    s->r->log[atomic_fetch_add(&s->r->n, 1)] = s->name;
    CHECK_OK(cio_yield()); /* hold it a while: others may join */
    CHECK_OK(cio_rwlock_unlock(s->r->l));
    return NULL;
}

static int main_rw_order(void *arg)
{
    (void)arg;
    struct rw r = {0};
    CHECK_OK(cio_rwlock_make(&r.l));
    CHECK_OK(cio_rwlock_wrlock(r.l, CIO_NEVER));
    CHECK_ERR(cio_rwlock_rdlock(r.l, 0), CIO_EDEADLK);
    /* Queue, in order: reader a, writer B, reader c, reader d. */
    struct rw_step s[4] = {{&r, 'a', false}, {&r, 'B', true},
                           {&r, 'c', false}, {&r, 'd', false}};
    cio_task t[4];
    for (int i = 0; i < 4; i++) {
        CHECK_OK(cio_spawn(&t[i], rw_enter, &s[i], NULL));
        CHECK_OK(cio_yield());
    }
    CHECK_OK(cio_rwlock_unlock(r.l));
    for (int i = 0; i < 4; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    /* c and d waited behind B although a reader held the lock. */
    CHECK(r.log[0] == 'a' && r.log[1] == 'B');
    CHECK((r.log[2] == 'c' && r.log[3] == 'd') ||
          (r.log[2] == 'd' && r.log[3] == 'c'));
    CHECK_ERR(cio_rwlock_unlock(r.l), CIO_EPERM);
    CHECK_OK(cio_rwlock_rdlock(r.l, 0));
    CHECK_ERR(cio_rwlock_wrlock(r.l, cio_deadline_after(2 * MS)),
              CIO_ETIMEDOUT);
    CHECK_ERR(cio_rwlock_free(&r.l), CIO_EBUSY);
    CHECK_OK(cio_rwlock_unlock(r.l));
    CHECK_OK(cio_rwlock_free(&r.l));
    return 0;
}

CIO_TEST(rwlock_serves_in_arrival_order)
{
    (void)state;
    cio_test_run(main_rw_order, NULL, 1, 0);
    ASSERT_ERR(cio_rwlock_make(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_rwlock_rdlock(NULL, 0), CIO_EINVAL);
    ASSERT_ERR(cio_rwlock_unlock(NULL), CIO_EINVAL);
    ASSERT_ERR(cio_rwlock_free(NULL), CIO_EINVAL);
}

CIO_TEST_MAIN(cmocka_unit_test(mutex_excludes_tasks_on_all_workers_and_a_thread),
              cmocka_unit_test(mutex_serves_waiters_in_arrival_order),
              cmocka_unit_test(mutex_busy_lock_cannot_starve_a_waiter),
              cmocka_unit_test(mutex_held_by_an_ending_task_is_reported),
              cmocka_unit_test(mutex_deadline_cancel_and_misuse),
              cmocka_unit_test(cond_signal_broadcast_deadline_cancel),
              cmocka_unit_test(rwlock_readers_share_and_writer_is_not_starved),
              cmocka_unit_test(rwlock_serves_in_arrival_order))
