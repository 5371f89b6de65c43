/* Task-local storage. */
#include <stdatomic.h>

#include "harness.h"

static atomic_int dtor_calls;
static cio_key k1, k2;

static void count_dtor(void *v)
{
    CHECK(v != NULL);
    atomic_fetch_add(&dtor_calls, 1);
}

static void *uses_keys(void *arg)
{
    CHECK(cio_key_get(k1) == NULL);
    CHECK_OK(cio_key_set(k1, arg));
    CHECK_OK(cio_key_set(k2, arg));
    CHECK_OK(cio_yield());
    CHECK(cio_key_get(k1) == arg);
    CHECK(cio_key_get(k2) == arg);
    CHECK_OK(cio_key_set(k2, NULL)); /* NULL values get no destructor */
    return NULL;
}

static int main_keys(void *arg)
{
    (void)arg;
    CHECK_ERR(cio_key_create(NULL, NULL), CIO_EINVAL);
    CHECK_OK(cio_key_create(&k1, count_dtor));
    CHECK_OK(cio_key_create(&k2, count_dtor));
    cio_task t[8];
    for (intptr_t i = 0; i < 8; i++)
        CHECK_OK(cio_spawn(&t[i], uses_keys, (void *)(i + 1), NULL));
    for (int i = 0; i < 8; i++)
        CHECK_OK(cio_join(t[i], NULL, CIO_NEVER));
    CHECK_EQ(atomic_load(&dtor_calls), 8);

    /* A deleted key is no key; its old values are not seen through a new
     * key that reuses the slot. */
    CHECK_OK(cio_key_set(k1, (void *)1));
    CHECK_OK(cio_key_delete(k1));
    CHECK_ERR(cio_key_delete(k1), CIO_EINVAL);
    CHECK_ERR(cio_key_set(k1, (void *)1), CIO_EINVAL);
    CHECK(cio_key_get(k1) == NULL);
    cio_key k3;
    CHECK_OK(cio_key_create(&k3, NULL));
    CHECK(cio_key_get(k3) == NULL);
    CHECK_ERR(cio_key_set((cio_key){0}, NULL), CIO_EINVAL);
    CHECK_ERR(cio_key_delete((cio_key){-3}), CIO_EINVAL);

    /* The key table is bounded. */
    cio_key all[CIO_KEYS_MAX];
    int made = 0, rc;
    while ((rc = cio_key_create(&all[made], NULL)) == 0)
        made++;
    CHECK_ERR(rc, CIO_EAGAIN);
    CHECK_EQ(made, CIO_KEYS_MAX - 2); /* k2 and k3 are live */
    for (int i = 0; i < made; i++)
        CHECK_OK(cio_key_delete(all[i]));
    CHECK_OK(cio_key_delete(k2));
    CHECK_OK(cio_key_delete(k3));
    return 0;
}

CIO_TEST(keys_values_and_destructors)
{
    (void)state;
    cio_test_run(main_keys, NULL, 2, 0);
    cio_key k;
    assert_int_equal(cio_key_create(&k, NULL), 0);
    ASSERT_ERR(cio_key_set(k, NULL), CIO_EPERM);
    assert_null(cio_key_get(k));
    assert_int_equal(cio_key_delete(k), 0);
}

CIO_TEST_MAIN(cmocka_unit_test(keys_values_and_destructors))
