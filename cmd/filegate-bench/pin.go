package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// setAffinity pins every thread of process pid to cpus (none: every CPU).
// Threads a process makes later inherit the affinity of the thread making
// them, and children that of their parent, so once every thread is pinned
// the whole process stays pinned. Two passes catch a thread made by a
// thread not yet pinned during the first.
func setAffinity(pid int, cpus ...int) error {
	var set unix.CPUSet
	if len(cpus) == 0 {
		for c := range numCPU() {
			set.Set(c)
		}
	}
	for _, c := range cpus {
		set.Set(c)
	}
	for range 2 {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return fmt.Errorf("bench: pin process %d: %w", pid, err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("bench: pin thread %d of process %d: %w", tid, pid, err)
			}
		}
	}
	return nil
}

// numCPU is how many CPUs the machine has (not how many this process may
// use: the bench pins and unpins itself).
func numCPU() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/possible") // such as "0-1"
	if err != nil {
		return 1
	}
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexAny(s, "-,"); i >= 0 {
		s = s[i+1:]
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 1
	}
	return n + 1
}

// childPIDs lists the children of process pid (the embedded store of a
// filegate serve).
func childPIDs(pid int) ([]int, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids, nil
}
