package watch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// notified handles one file notification: a new directory is watched and
// scanned, and a transcript that changed is marked to be read.
func (w *Watcher) notified(ev fsnotify.Event, dirty map[*file]bool) {
	fo := w.folderOf(ev.Name)
	if fo == nil {
		return
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
			w.walk(fo, ev.Name, dirty)
			return
		}
	}
	if f := w.files[ev.Name]; f != nil {
		dirty[f] = true
	} else if f := w.found(fo, ev.Name); f != nil {
		dirty[f] = true
	}
}

// folderOf returns the folder whose tree holds path.
func (w *Watcher) folderOf(path string) *Folder {
	for i := range w.cfg.Folders {
		fo := &w.cfg.Folders[i]
		if rel, err := filepath.Rel(fo.Dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return fo
		}
	}
	return nil
}

// walk finds the transcripts and directories under dir; new files are
// added to dirty when it is not nil.
func (w *Watcher) walk(fo *Folder, dir string, dirty map[*file]bool) {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir || !errors.Is(err, fs.ErrNotExist) {
				w.log.Debug("scan", "path", p, "err", err)
			}
			return nil
		}
		if d.IsDir() {
			w.watchDir(p)
			return nil
		}
		if w.files[p] == nil {
			if f := w.found(fo, p); f != nil && dirty != nil {
				dirty[f] = true
			}
		}
		return nil
	})
	if err != nil {
		w.log.Debug("scan", "dir", dir, "err", err)
	}
}

func (w *Watcher) watchDir(dir string) {
	if w.notify == nil || w.dirs[dir] {
		return
	}
	if err := w.notify.Add(dir); err != nil {
		w.log.Warn("cannot watch a directory; the rescans will find its changes", "dir", dir, "err", err)
		return
	}
	w.dirs[dir] = true
}

// found starts following the transcript at path, from its stored cursor
// if there is one; nil when path is not a transcript of fo.
func (w *Watcher) found(fo *Folder, path string) *file {
	rel, err := filepath.Rel(fo.Dir, path)
	if err != nil || !match(fo, filepath.ToSlash(rel)) {
		return nil
	}
	f := &file{folder: fo, path: path, changed: w.cfg.Now()}
	k := [2]string{fo.Source, path}
	if c, ok := w.resume[k]; ok {
		delete(w.resume, k)
		f.committed, f.hasCommitted = c, true
		f.off, f.id = c.Offset, c.FileID
		w.stats.Resumed++
	}
	w.files[path] = f
	return f
}

func match(fo *Folder, rel string) bool {
	if fo.Match != nil {
		return fo.Match(rel)
	}
	return strings.HasSuffix(rel, ".jsonl")
}

// forget drops a file that disappeared; its cursor stays in the store.
func (w *Watcher) forget(f *file) {
	w.log.Info("transcript removed", "file", f.path)
	f.closeHandle()
	delete(w.files, f.path)
}

func (w *Watcher) closeAll() {
	for _, f := range w.files {
		f.closeHandle()
	}
	if w.notify != nil {
		w.notify.Close()
		w.notify = nil
	}
}
