package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/filegate/filegate/client"
)

// job is one file to move.
type job struct {
	local string // file path
	key   string
	size  int64
	name  string // what progress shows
}

// runJobs runs every job, up to workers at once, showing progress, and
// returns an error naming how many failed.
func (e *clientEnv) runJobs(ctx context.Context, jobs []job, workers int, do func(ctx context.Context, j job, set func(int64, int64)) (string, error)) error {
	var total int64
	for _, j := range jobs {
		total += max(j.size, 0)
	}
	rep := newReporter(e.out, e.stdout, e.stderr, len(jobs), total)
	ch := make(chan job)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range min(workers, max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range ch {
				it := rep.start(j.name, j.size)
				detail, err := do(ctx, j, it.set)
				it.finish(err, detail)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", j.name, err))
					mu.Unlock()
				}
			}
		})
	}
	for _, j := range jobs {
		select {
		case ch <- j:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	rep.wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	// The first failure's kind decides the exit status.
	return fmt.Errorf("%d of %d transfers failed; the first: %w", len(errs), len(jobs), errs[0])
}

func putCmd(e *clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put FILE|DIR... DEST",
		Short: "Upload files straight to the store (directories recursively; DEST ending in / is a prefix)",
		Long: `Upload files straight to the store through filegate's grants.

A single FILE goes to the key DEST, or to DEST + its name when DEST ends in "/".
Several files, or a directory, go under the prefix DEST: a directory's contents
keep their paths relative to it (as "aws s3 cp --recursive" does).
Large files are sent as multipart uploads with parts in parallel; an upload
that is interrupted continues from the stored parts when the same command is
run again.`,
		Args: usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := e.clientAndTransfer()
			if err != nil {
				return err
			}
			jobs, err := planPut(args[:len(args)-1], args[len(args)-1])
			if err != nil {
				return err
			}
			return e.runJobs(cmd.Context(), jobs, t.Concurrency, func(ctx context.Context, j job, set func(int64, int64)) (string, error) {
				res, err := t.Upload(ctx, c, j.local, j.key, client.Progress(set))
				if err != nil {
					return "", err
				}
				detail := "→ " + res.Key
				if res.Resumed {
					detail += fmt.Sprintf(", resumed (%d parts kept, %d sent)", res.PartsKept, res.PartsSent)
				}
				return detail, nil
			})
		},
	}
	e.clientFlags(cmd, true)
	return cmd
}

// planPut maps local paths to keys.
func planPut(srcs []string, dest string) ([]job, error) {
	var jobs []job
	single := len(srcs) == 1
	for _, src := range srcs {
		fi, err := os.Stat(src)
		if err != nil {
			return nil, usageErr(err)
		}
		if !fi.IsDir() {
			key := dest
			if !single || strings.HasSuffix(dest, "/") {
				key = prefixOf(dest) + filepath.Base(src)
			}
			jobs = append(jobs, job{local: src, key: key, size: fi.Size(), name: src})
			continue
		}
		err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil // directories themselves, symlinks, devices
			}
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			jobs = append(jobs, job{local: p, key: prefixOf(dest) + filepath.ToSlash(rel), size: info.Size(), name: p})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(jobs) == 0 {
		return nil, usageErr(errors.New("nothing to upload"))
	}
	return jobs, nil
}

// prefixOf makes dest a prefix: "" stays "" (the bucket's root), others end in "/".
func prefixOf(dest string) string {
	if dest == "" || strings.HasSuffix(dest, "/") {
		return dest
	}
	return dest + "/"
}

func getCmd(e *clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get KEY|PREFIX/ [DEST]",
		Short: "Download an object, or every object under a prefix, straight from the store",
		Long: `Download through filegate's grants, straight from the store.

KEY goes to DEST (default: its base name in the current directory; "-" writes
to standard output). A PREFIX ending in "/" downloads every object under it
into the directory DEST (default "."), keeping paths relative to the prefix.
Large objects are fetched as parallel ranged GETs into DEST.filegate-partial,
which the same command continues after an interruption; a file appears under
its name only when it is whole and matches the store's ETag.`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, t, err := e.clientAndTransfer()
			if err != nil {
				return err
			}
			dest := ""
			if len(args) == 2 {
				dest = args[1]
			}
			src := args[0]
			if dest == "-" {
				if strings.HasSuffix(src, "/") {
					return usageErr(errors.New("a prefix cannot be written to standard output"))
				}
				return e.cat(cmd.Context(), c, src)
			}
			var jobs []job
			if strings.HasSuffix(src, "/") {
				if dest == "" {
					dest = "."
				}
				err := c.Walk(cmd.Context(), src, func(o client.Object) error {
					rel := strings.TrimPrefix(o.Key, src)
					if strings.HasSuffix(o.Key, "/") && o.Size == 0 {
						return nil // a folder marker
					}
					if !client.IsLocalPath(rel) {
						fmt.Fprintf(e.stderr, "%s: skipped: the key does not map to a path inside %s\n", o.Key, dest)
						return nil
					}
					jobs = append(jobs, job{key: o.Key, local: filepath.Join(dest, filepath.FromSlash(rel)), size: o.Size, name: o.Key})
					return nil
				})
				if err != nil {
					return err
				}
				if len(jobs) == 0 {
					return notFoundErr(fmt.Errorf("no objects under %q", src))
				}
			} else {
				local := dest
				base := path.Base(src)
				if fi, err := os.Stat(dest); dest == "" || strings.HasSuffix(dest, "/") || (err == nil && fi.IsDir()) {
					if !client.IsLocalPath(base) {
						return usageErr(fmt.Errorf("%q has no usable file name: give DEST", src))
					}
					local = filepath.Join(dest, base)
				}
				jobs = []job{{key: src, local: local, size: -1, name: src}}
			}
			return e.runJobs(cmd.Context(), jobs, t.Concurrency, func(ctx context.Context, j job, set func(int64, int64)) (string, error) {
				res, err := t.Download(ctx, c, j.key, j.local, client.Progress(set))
				if err != nil {
					return "", err
				}
				detail := "→ " + j.local
				if res.Resumed {
					detail += ", resumed"
				}
				if !res.Verified {
					detail += ", size checked (the ETag is not an MD5)"
				}
				return detail, nil
			})
		},
	}
	e.clientFlags(cmd, true)
	return cmd
}

// cat streams one object to standard output.
func (e *clientEnv) cat(ctx context.Context, c *client.Client, key string) error {
	g, err := c.Download(ctx, client.DownloadRequest{Key: key})
	if err != nil {
		return err
	}
	resp, err := c.Fetch(ctx, g.URL, 0, -1)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(e.stdout, resp.Body)
	if err != nil {
		return err
	}
	if n != g.Size {
		return fmt.Errorf("got %d of %d bytes", n, g.Size)
	}
	return nil
}

func zipCmd(e *clientEnv) *cobra.Command {
	var out, name, compression string
	var store bool
	cmd := &cobra.Command{
		Use:   "zip KEY|PREFIX/... -o OUT.zip",
		Short: "Zip objects (a list of keys, or one prefix) into a local file, or with --store into the bundle bucket",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.client()
			if err != nil {
				return err
			}
			req := client.BundleRequest{Name: name, Compression: compression}
			if len(args) == 1 && strings.HasSuffix(args[0], "/") {
				req.Prefix = args[0]
			} else {
				for _, a := range args {
					if strings.HasSuffix(a, "/") {
						return usageErr(errors.New("give one prefix, or a list of keys, not both"))
					}
				}
				req.Keys = args
			}
			if store {
				b, err := c.Bundle(cmd.Context(), req)
				if err != nil {
					return err
				}
				if e.out.json {
					return jsonOut(e.stdout, b)
				}
				fmt.Fprintf(e.stderr, "%s: %d entries, %s, link expires %s\n", b.Key, b.Entries, humanSize(b.Size), b.ExpiresAt.Local().Format("15:04:05"))
				fmt.Fprintln(e.stdout, b.URL)
				return nil
			}
			if out == "" {
				return usageErr(errors.New("give -o OUT.zip (or - for standard output), or --store"))
			}
			if req.Name == "" && out != "-" {
				req.Name = filepath.Base(out)
			}
			body, size, err := c.BundleStream(cmd.Context(), req)
			if err != nil {
				return err
			}
			defer body.Close()
			if out == "-" {
				_, err := io.Copy(e.stdout, body)
				return err
			}
			rep := newReporter(e.out, e.stdout, e.stderr, 1, size)
			it := rep.start(out, size)
			err = writeFileAtomic(out, func(w io.Writer) error {
				_, err := io.Copy(w, &progressReader{r: body, fn: func(n int64) { it.set(n, size) }})
				return err
			})
			it.finish(err, "")
			rep.wait()
			return err
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the zip file to write (- for standard output)")
	cmd.Flags().BoolVar(&store, "store", false, "build the zip in the bundle bucket and print its link instead")
	cmd.Flags().StringVar(&name, "name", "", "the zip's file name in the link (default: OUT's)")
	cmd.Flags().StringVar(&compression, "compression", "", `"store", "deflate", or "auto" (the server's default: deflate what compresses)`)
	e.clientFlags(cmd, true)
	return cmd
}

type progressReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	p.fn(p.n)
	return n, err
}

// writeFileAtomic writes path through a temporary file beside it, so that a
// failure never leaves a truncated file under its name.
func writeFileAtomic(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func captionCmd(e *clientEnv) *cobra.Command {
	var top, bottom, outKey, format, out string
	cmd := &cobra.Command{
		Use:   "caption KEY --top TEXT --bottom TEXT [-o FILE]",
		Short: "Render a caption onto an image in the bucket; prints the result's link, or saves it with -o",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if top == "" && bottom == "" {
				return usageErr(errors.New("give --top, --bottom or both"))
			}
			c, err := e.client()
			if err != nil {
				return err
			}
			res, err := c.Caption(cmd.Context(), client.CaptionRequest{Key: args[0], TopText: top, BottomText: bottom, OutputKey: outKey, Format: format})
			if err != nil {
				return err
			}
			if res.MissingGlyphs > 0 {
				fmt.Fprintf(e.stderr, "warning: %d characters have no glyph in the font and were drawn as boxes\n", res.MissingGlyphs)
			}
			if out != "" {
				resp, err := c.Fetch(cmd.Context(), res.URL, 0, -1)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if err := writeFileAtomic(out, func(w io.Writer) error { _, err := io.Copy(w, resp.Body); return err }); err != nil {
					return err
				}
			}
			if e.out.json {
				return jsonOut(e.stdout, res)
			}
			fmt.Fprintf(e.stderr, "%s (%s)\n", res.Key, res.ContentType)
			if out == "" {
				fmt.Fprintln(e.stdout, res.URL)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&top, "top", "", "text at the top")
	cmd.Flags().StringVar(&bottom, "bottom", "", "text at the bottom")
	cmd.Flags().StringVar(&outKey, "output-key", "", "key of the result (default: chosen by the server)")
	cmd.Flags().StringVar(&format, "format", "", "jpeg, png or gif (default: the source's)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "also save the result to this file")
	e.clientFlags(cmd, false)
	return cmd
}
