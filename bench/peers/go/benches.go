package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// benchYield: two goroutines calling runtime.Gosched; run with
// GOMAXPROCS=1 so they take turns on one thread. ns per yield.
func benchYield(n int) {
	var wg sync.WaitGroup
	t0 := time.Now()
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	result("yield", float64(time.Since(t0).Nanoseconds())/float64(2*n), "ns")
}

// benchSpawn: n trivial goroutines joined through a WaitGroup (Go has no
// join handles). ns per goroutine.
func benchSpawn(n int) {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	result("spawn", float64(time.Since(t0).Nanoseconds())/float64(n), "ns")
}

// benchIdle: n goroutines blocked on one channel at once. Peak RSS growth
// per goroutine and time until all have started, per goroutine.
func benchIdle(n int) {
	release := make(chan struct{})
	var started sync.WaitGroup
	base := procStatusBytes("VmHWM")
	t0 := time.Now()
	started.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-release
		}()
	}
	started.Wait()
	spawnNs := float64(time.Since(t0).Nanoseconds()) / float64(n)
	hwm := procStatusBytes("VmHWM")
	result("idle_tasks.bytes", float64(hwm-base)/float64(n), "B")
	result("idle_tasks.spawn_ns", spawnNs, "ns")
	close(release)
	// Tearing down is not what is measured.
	os.Exit(0)
}

// skynet with channels, as in the original benchmark.
func skynet(c chan int, num, size int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	step := size / 10
	for i := 0; i < 10; i++ {
		go skynet(rc, num+i*step, step)
	}
	sum := 0
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func benchSkynet(n int) { skynetNamed("skynet", n) }

// skynetNamed runs skynet (which passes results over channels) and reports
// it as `name`: "skynet" against cio's join version, "skynet_chan" against
// cio's channel version.
func skynetNamed(name string, n int) {
	c := make(chan int)
	t0 := time.Now()
	go skynet(c, 0, n)
	sum := <-c
	ms := float64(time.Since(t0).Nanoseconds()) / 1e6
	if sum != n*(n-1)/2 {
		fmt.Fprintf(os.Stderr, "skynet: wrong sum %d (want %d)\n", sum, n*(n-1)/2)
		os.Exit(1)
	}
	result(name, ms, "ms")
}

// benchTimers: n goroutines each sleeping until start + offset(i).
func benchTimers(n int, seed uint64) {
	var wg sync.WaitGroup
	cpu0 := cpuNs()
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		d := t0.Add(time.Duration(timerOffsetNs(seed, uint64(i))))
		go func() {
			time.Sleep(time.Until(d))
			wg.Done()
		}()
	}
	wg.Wait()
	wall := float64(time.Since(t0).Nanoseconds())
	cpu := cpuNs() - cpu0
	result("timers.cpu_ms", cpu/1e6, "ms")
	result("timers.wall_ms", wall/1e6, "ms")
	result("timers.rss_bytes", float64(procStatusBytes("VmHWM")), "B")
}

// benchFileRead: n goroutines each reading file dir/f<i> (64 KiB, in the
// page cache) whole with os.ReadFile, the Go runtime's way to read a
// file from many goroutines. Total time and CPU time.
func benchFileRead(dir string, n int) {
	var wg sync.WaitGroup
	var failed sync.Once
	bad := false
	cpu0 := cpuNs()
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("%s/f%d", dir, i)
		go func() {
			defer wg.Done()
			b, err := os.ReadFile(path)
			if err != nil || len(b) != 64*1024 {
				failed.Do(func() { bad = true })
			}
		}()
	}
	wg.Wait()
	wall := float64(time.Since(t0).Nanoseconds())
	cpu := cpuNs() - cpu0
	if bad {
		fmt.Fprintln(os.Stderr, "gobench file_read: a read failed or was short")
		os.Exit(1)
	}
	result("file_read", wall/1e6, "ms")
	result("file_read.cpu_ms", cpu/1e6, "ms")
}

// benchSpawnProc: n goroutines each running /bin/true with os/exec (stdio
// inherited, as the other peers) and waiting for it. Time per child and
// the parent's CPU time.
func benchSpawnProc(n int) {
	var wg sync.WaitGroup
	var failed sync.Once
	bad := false
	cpu0 := cpuNs()
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer wg.Done()
			c := exec.Command("/bin/true")
			c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := c.Run(); err != nil {
				failed.Do(func() { bad = true })
			}
		}()
	}
	wg.Wait()
	wall := float64(time.Since(t0).Nanoseconds())
	cpu := cpuNs() - cpu0
	if bad {
		fmt.Fprintln(os.Stderr, "gobench spawn_proc: a child failed")
		os.Exit(1)
	}
	result("spawn_proc", wall/1e3/float64(n), "us")
	result("spawn_proc.cpu_us", cpu/1e3/float64(n), "us")
}
