// switch: raw context switch between two contexts, ns per switch.
// "fcontext" uses boost::context::detail::jump_fcontext, the lowest level
// of Boost.Context (what cio's own switch compares with); "fiber" uses the
// public callcc-style boost::context::fiber on top of it.
// Usage: boost_switch fcontext|fiber [N]   (N round trips = 2N switches)
#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace ctx = boost::context;
namespace det = boost::context::detail;

static double now_ns()
{
    using namespace std::chrono;
    return double(duration_cast<nanoseconds>(
        steady_clock::now().time_since_epoch()).count());
}

// The other side of the ping-pong: jump back to whoever jumped here,
// forever; the transfer carries the context to return to.
static void pong(det::transfer_t t)
{
    for (;;)
        t = det::jump_fcontext(t.fctx, nullptr);
}

static double bench_fcontext(long n)
{
    const std::size_t size = 64 * 1024;
    void *stack = std::malloc(size);
    det::fcontext_t c = det::make_fcontext(static_cast<char *>(stack) + size,
                                           size, pong);
    // One warm-up round trip so the first touch of the stack is not timed.
    c = det::jump_fcontext(c, nullptr).fctx;
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        c = det::jump_fcontext(c, nullptr).fctx;
    double dt = now_ns() - t0;
    // The stack is left as is: pong never returns.
    return dt / (2.0 * n);
}

[[noreturn]] static void bench_fiber(long n)
{
    ctx::fiber f{[](ctx::fiber &&m) {
        for (;;)
            m = std::move(m).resume();
        return std::move(m);
    }};
    f = std::move(f).resume();
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        f = std::move(f).resume();
    double dt = now_ns() - t0;
    // Exiting without unwinding the fiber: it loops forever by design.
    std::printf("result switch %.3f ns\n", dt / (2.0 * n));
    std::fflush(stdout);
    std::_Exit(0);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "fcontext";
    long n = argc > 2 ? std::atol(argv[2]) : 10000000;
    if (std::strcmp(mode, "fiber") == 0)
        bench_fiber(n);
    std::printf("result switch %.3f ns\n", bench_fcontext(n));
    return 0;
}
