package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// reporter shows transfers: bars on a terminal, plain lines otherwise,
// JSON events with --json, nothing but errors with -q.
type reporter interface {
	start(name string, size int64) item
	// wait flushes the display after every item has finished.
	wait()
}

// item is one transfer being shown.
type item interface {
	set(done, size int64)
	finish(err error, detail string)
}

type outputMode struct {
	json, quiet bool
}

func newReporter(mode outputMode, stdout, stderr io.Writer, files int, total int64) reporter {
	switch {
	case mode.json:
		return &jsonReporter{w: stdout, last: map[string]time.Time{}}
	case mode.quiet:
		return &plainReporter{w: stderr, quiet: true}
	case isTerminal(stderr):
		return newBarReporter(stderr, files, total)
	}
	return &plainReporter{w: stderr}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// plainReporter prints a line per finished transfer.
type plainReporter struct {
	mu    sync.Mutex
	w     io.Writer
	quiet bool
}

type plainItem struct {
	r     *plainReporter
	name  string
	size  atomic.Int64
	done  atomic.Int64
	began time.Time
}

func (r *plainReporter) start(name string, size int64) item {
	it := &plainItem{r: r, name: name, began: time.Now()}
	it.size.Store(size)
	return it
}

func (r *plainReporter) wait() {}

func (i *plainItem) set(done, size int64) {
	i.size.Store(size)
	i.done.Store(done)
}

func (i *plainItem) finish(err error, detail string) {
	i.r.mu.Lock()
	defer i.r.mu.Unlock()
	switch {
	case err != nil:
		fmt.Fprintf(i.r.w, "%s: failed: %v\n", i.name, err)
	case !i.r.quiet:
		secs := time.Since(i.began).Seconds()
		size := max(i.size.Load(), i.done.Load())
		line := fmt.Sprintf("%s: %s in %.2fs", i.name, humanSize(size), secs)
		if secs > 0 && size > 0 {
			line += fmt.Sprintf(" (%s/s)", humanSize(int64(float64(size)/secs)))
		}
		if detail != "" {
			line += ", " + detail
		}
		fmt.Fprintln(i.r.w, line)
	}
}

// jsonReporter writes one JSON object a line: start, progress (at most
// twice a second per item), done or error.
type jsonReporter struct {
	mu   sync.Mutex
	w    io.Writer
	last map[string]time.Time
}

type jsonEvent struct {
	Event   string  `json:"event"`
	Name    string  `json:"name"`
	Size    int64   `json:"size"`
	Bytes   int64   `json:"bytes,omitempty"`
	Seconds float64 `json:"seconds,omitempty"`
	Detail  string  `json:"detail,omitempty"`
	Error   string  `json:"error,omitempty"`
}

func (r *jsonReporter) emit(e jsonEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(e)
	_, _ = r.w.Write(append(b, '\n'))
}

type jsonItem struct {
	r     *jsonReporter
	name  string
	size  int64
	began time.Time
	mu    sync.Mutex
	last  time.Time
}

func (r *jsonReporter) start(name string, size int64) item {
	r.emit(jsonEvent{Event: "start", Name: name, Size: size})
	return &jsonItem{r: r, name: name, size: size, began: time.Now()}
}

func (r *jsonReporter) wait() {}

func (i *jsonItem) set(done, size int64) {
	i.mu.Lock()
	i.size = size
	now := time.Now()
	if now.Sub(i.last) < 500*time.Millisecond {
		i.mu.Unlock()
		return
	}
	i.last = now
	i.mu.Unlock()
	i.r.emit(jsonEvent{Event: "progress", Name: i.name, Size: size, Bytes: done})
}

func (i *jsonItem) finish(err error, detail string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	e := jsonEvent{Event: "done", Name: i.name, Size: i.size, Bytes: i.size, Seconds: time.Since(i.began).Seconds(), Detail: detail}
	if err != nil {
		e.Event, e.Bytes, e.Error = "error", 0, err.Error()
	}
	i.r.emit(e)
}

// barReporter draws a bar per running transfer and, for several files, a
// total bar, with vbauerster/mpb.
type barReporter struct {
	p     *mpb.Progress
	total *mpb.Bar
	sum   atomic.Int64
	files atomic.Int64 // finished
	grow  atomic.Int64 // the total, as sizes become known
	w     io.Writer
}

func newBarReporter(w io.Writer, files int, total int64) *barReporter {
	r := &barReporter{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond)), w: w}
	r.grow.Store(total)
	if files > 1 {
		r.total = r.p.AddBar(total,
			mpb.BarPriority(1<<30), // always the last line
			mpb.PrependDecorators(
				decor.Any(func(decor.Statistics) string {
					return fmt.Sprintf("total %d/%d files", r.files.Load(), files)
				}, decor.WCSyncSpaceR),
				decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
			),
			mpb.AppendDecorators(
				decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace),
				decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace),
			),
		)
	}
	return r
}

type barItem struct {
	r    *barReporter
	bar  *mpb.Bar
	mu   sync.Mutex
	size int64
	last atomic.Int64
}

func (r *barReporter) start(name string, size int64) item {
	b := r.p.AddBar(max(size, 0),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(
			decor.Name(shorten(name, 32), decor.WCSyncSpaceR),
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
		),
		mpb.AppendDecorators(
			decor.Percentage(decor.WCSyncSpace),
			decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace),
			decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace),
		),
	)
	return &barItem{r: r, bar: b, size: size}
}

func (i *barItem) set(done, size int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if size != i.size && size >= 0 {
		if i.r.total != nil && i.size < 0 {
			i.r.total.SetTotal(i.r.grow.Add(size), false)
		}
		i.size = size
		i.bar.SetTotal(size, false)
	}
	old := i.last.Swap(done)
	i.bar.SetCurrent(done)
	if i.r.total != nil {
		i.r.total.SetCurrent(i.r.sum.Add(done - old))
	}
}

func (i *barItem) finish(err error, _ string) {
	if err != nil {
		i.bar.Abort(true)
		i.mu.Lock()
		size := i.size
		i.mu.Unlock()
		if i.r.total != nil {
			i.r.total.SetCurrent(i.r.sum.Add(max(size, 0) - i.last.Load()))
		}
		return
	}
	i.mu.Lock()
	size := i.size
	i.mu.Unlock()
	i.set(size, size)
	i.r.files.Add(1)
	i.bar.SetTotal(-1, true)
}

func (r *barReporter) wait() {
	if r.total != nil {
		r.total.SetTotal(-1, true)
	}
	r.p.Wait()
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}

// humanSize formats a byte count with binary units.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
