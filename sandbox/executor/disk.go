package executor

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// The workspace's disk limit. Docker's local volumes have no size limit,
// so the executor keeps one: every file a command writes is capped at the
// limit (RLIMIT_FSIZE, inherited by commands, set when the executor is the
// container's init), a running command is watched and stopped once the
// workspace passes the limit, and every call that may write is checked
// when it ends. The file tools check before they write.

// diskUsage is the space the workspace's files take, in bytes (allocated
// blocks, so a sparse file counts what it holds).
func (s *Server) diskUsage() int64 {
	var total int64
	filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += fi.Size()
		}
		return nil
	})
	return total
}

// overDisk reports whether the workspace is past its limit, with the
// message a model sees.
func (s *Server) overDisk() (bool, string) {
	if s.cfg.DiskLimit <= 0 {
		return false, ""
	}
	used := s.diskUsage()
	if used <= s.cfg.DiskLimit {
		return false, ""
	}
	return true, diskMessage(used, s.cfg.DiskLimit)
}

// roomFor reports whether n more bytes fit in the workspace.
func (s *Server) roomFor(n int64) error {
	if s.cfg.DiskLimit <= 0 {
		return nil
	}
	if used := s.diskUsage(); used+n > s.cfg.DiskLimit {
		return fmt.Errorf("the workspace would go over its disk limit (%s used, %s more, limit %s)", mib(used), mib(n), mib(s.cfg.DiskLimit))
	}
	return nil
}

func diskMessage(used, limit int64) string {
	return fmt.Sprintf("The workspace went over its disk limit (%s used, limit %s): the command was stopped. Remove files to go on.", mib(used), mib(limit))
}

func mib(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// writeFile writes a workspace file for a file tool, within the disk limit
// (what the file grows by must fit).
func (s *Server) writeFile(real string, data []byte, mode os.FileMode) error {
	if s.cfg.DiskLimit > 0 {
		var old int64
		if fi, err := os.Lstat(real); err == nil {
			old = fi.Size()
		}
		if err := s.roomFor(int64(len(data)) - old); err != nil {
			return err
		}
	}
	return os.WriteFile(real, data, mode)
}
