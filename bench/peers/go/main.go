// Go peers for the cio benchmarks: one binary, one subcommand per
// benchmark. GOMAXPROCS comes from the environment (the runner sets it).
// Usage: gobench BENCH [N], or gobench http_hello|echo PORT for the servers
// of the network benchmarks.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func argN(i int, def int) int {
	if len(os.Args) > i {
		n, err := strconv.Atoi(os.Args[i])
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad number %q\n", os.Args[i])
			os.Exit(2)
		}
		return n
	}
	return def
}

// result prints the machine-readable line every bench program uses.
func result(name string, value float64, unit string) {
	fmt.Printf("result %s %.3f %s\n", name, value, unit)
}

// procStatusBytes reads a field of /proc/self/status (VmHWM, VmRSS).
func procStatusBytes(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			v := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line[len(field)+1:]), "kB"))
			kb, _ := strconv.ParseUint(v, 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuNs is user+system CPU time of the whole process.
func cpuNs() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

// timerOffsetNs is the deadline generator shared with bench/common.h and
// the Tokio peer: splitmix64 of (seed + i*golden), reduced to [0, 1 s).
func timerOffsetNs(seed, i uint64) uint64 {
	z := seed + i*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return z % 1000000000
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench yield|spawn|idle_tasks|skynet|timers|chan_pingpong|\n"+
			"               chan_mpmc|mutex|skynet_chan|spawn_proc [N]\n"+
			"       gobench file_read DIR [N]\n"+
			"       gobench http_hello|echo PORT")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "yield":
		benchYield(argN(2, 1000000))
	case "spawn":
		benchSpawn(argN(2, 1000000))
	case "idle_tasks":
		benchIdle(argN(2, 1000000))
	case "skynet":
		benchSkynet(argN(2, 1000000))
	case "timers":
		benchTimers(argN(2, 1000000), uint64(argN(3, 42)))
	case "chan_pingpong":
		benchChanPingpong(argN(2, 1000000))
	case "chan_mpmc":
		benchChanMPMC(argN(2, 10000000))
	case "mutex":
		benchMutex(argN(2, 1000000))
	case "skynet_chan":
		skynetNamed("skynet_chan", argN(2, 1000000))
	case "file_read":
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "usage: gobench file_read DIR [N]")
			os.Exit(2)
		}
		benchFileRead(os.Args[2], argN(3, 1000))
	case "spawn_proc":
		benchSpawnProc(argN(2, 200))
	case "http_hello":
		serveHTTPHello(argN(2, 8080))
	case "echo":
		serveEcho(argN(2, 8080))
	default:
		fmt.Fprintf(os.Stderr, "unknown benchmark %q\n", os.Args[1])
		os.Exit(2)
	}
}
