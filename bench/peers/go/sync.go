package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// benchChanPingpong: two goroutines bounce a value over two unbuffered
// channels; ns per round trip.
func benchChanPingpong(n int) {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for i := 0; i < n; i++ {
			pong <- <-ping
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		if <-pong != i {
			fmt.Fprintln(os.Stderr, "chan_pingpong: wrong value")
			os.Exit(1)
		}
	}
	result("chan_pingpong", float64(time.Since(t0).Nanoseconds())/float64(n), "ns")
}

// benchChanMPMC: 4 producers and 4 consumers on one channel of capacity
// 1024; million items per second.
func benchChanMPMC(n int) {
	const producers, consumers = 4, 4
	n -= n % producers
	c := make(chan int, 1024)
	var pw, cw sync.WaitGroup
	sums := make([]int, consumers)
	t0 := time.Now()
	for k := 0; k < consumers; k++ {
		cw.Add(1)
		go func(k int) {
			s := 0
			for v := range c {
				s += v
			}
			sums[k] = s
			cw.Done()
		}(k)
	}
	per := n / producers
	for p := 0; p < producers; p++ {
		pw.Add(1)
		go func(first int) {
			for i := first; i < first+per; i++ {
				c <- i
			}
			pw.Done()
		}(p * per)
	}
	pw.Wait()
	close(c)
	cw.Wait()
	s := time.Since(t0).Seconds()
	total := 0
	for _, v := range sums {
		total += v
	}
	if total != n*(n-1)/2 {
		fmt.Fprintln(os.Stderr, "chan_mpmc: wrong sum")
		os.Exit(1)
	}
	result("chan_mpmc", float64(n)/s/1e6, "Mitems/s")
}

// benchMutex: 8 goroutines, n increments each of one counter under one
// sync.Mutex; ms.
func benchMutex(n int) {
	const lockers = 8
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	t0 := time.Now()
	for g := 0; g < lockers; g++ {
		wg.Add(1)
		go func() {
			for i := 0; i < n; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	ms := float64(time.Since(t0).Nanoseconds()) / 1e6
	if counter != lockers*n {
		fmt.Fprintln(os.Stderr, "mutex: wrong count")
		os.Exit(1)
	}
	result("mutex", ms, "ms")
}
