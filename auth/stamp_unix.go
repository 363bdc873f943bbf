//go:build unix

package auth

import (
	"fmt"
	"io/fs"
	"syscall"
	"time"
)

type fileStamp struct {
	mod   time.Time
	size  int64
	ino   uint64
	nlink uint64
}

// same reports whether two stamps describe the same version.
func (s fileStamp) same(o fileStamp) bool {
	return s.mod.Equal(o.mod) && s.size == o.size && s.ino == o.ino
}

// String is the stamp as a document version (links left out: a file
// that lost its last link is gone, not another version).
func (s fileStamp) String() string {
	return fmt.Sprintf("%d-%d-%d", s.mod.UnixNano(), s.size, s.ino)
}

func stampOf(fi fs.FileInfo) fileStamp {
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = s.Ino
		st.nlink = uint64(s.Nlink)
	}
	return st
}
