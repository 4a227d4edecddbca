package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// session runs Serve over pipes, as the host does over the attach stream.
type session struct {
	t   *testing.T
	w   *io.PipeWriter
	fr  *FrameReader
	err chan error
	id  uint64
}

func startSession(t *testing.T, cfg Config) *session {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, w: inW, fr: NewFrameReader(outR), err: make(chan error, 1)}
	go func() {
		err := Serve(context.Background(), inR, outW, io.Discard, nil)
		outW.Close()
		s.err <- err
	}()
	args, _ := json.Marshal(cfg)
	resp := s.roundTrip(Request{Op: OpInit, Args: args})
	if resp.Ready == nil || resp.Ready.Protocol != ProtocolVersion {
		t.Fatalf("init: %+v", resp)
	}
	return s
}

func (s *session) send(r Request) uint64 {
	s.t.Helper()
	s.id++
	r.ID = s.id
	if err := WriteFrame(s.w, r); err != nil {
		s.t.Fatal(err)
	}
	return r.ID
}

func (s *session) recv() Response {
	s.t.Helper()
	var resp Response
	if err := s.fr.Next(&resp); err != nil {
		s.t.Fatal(err)
	}
	return resp
}

func (s *session) roundTrip(r Request) Response {
	s.t.Helper()
	id := s.send(r)
	resp := s.recv()
	if resp.ID != id {
		s.t.Fatalf("response id %d, want %d", resp.ID, id)
	}
	return resp
}

func TestServeProtocol(t *testing.T) {
	root := t.TempDir()
	s := startSession(t, Config{Root: root, Shell: "/bin/sh"})

	resp := s.roundTrip(Request{Op: OpTool, Tool: "Bash", Args: json.RawMessage(`{"command":"echo hi"}`)})
	if resp.Result == nil || resp.Result.Output != "hi" {
		t.Fatalf("tool: %+v", resp)
	}
	if r := s.roundTrip(Request{Op: OpWrite, Path: "d/f.txt", Data: []byte("data"), Mode: 0o600}); r.Err != "" {
		t.Fatalf("write: %s", r.Err)
	}
	if r := s.roundTrip(Request{Op: OpRead, Path: root + "/d/f.txt"}); string(r.Data) != "data" {
		t.Fatalf("read: %+v", r)
	}
	if r := s.roundTrip(Request{Op: OpRead, Path: "/etc/passwd"}); r.ErrKind != ErrKindOutside {
		t.Fatalf("read outside: %+v", r)
	}
	if r := s.roundTrip(Request{Op: OpRead, Path: "missing"}); r.ErrKind != ErrKindNotFound {
		t.Fatalf("read missing: %+v", r)
	}
	if r := s.roundTrip(Request{Op: OpChanges}); len(r.Changes) != 2 || r.Changes[1].Path != "d/f.txt" {
		t.Fatalf("changes: %+v", r.Changes)
	}
	if r := s.roundTrip(Request{Op: "bogus"}); r.ErrKind != ErrKindInvalid {
		t.Fatalf("bogus op: %+v", r)
	}

	// Tar arrives in chunks ending with More=false.
	id := s.send(Request{Op: OpTar, Paths: []string{"d"}})
	var tarData []byte
	for {
		r := s.recv()
		if r.ID != id || r.Err != "" {
			t.Fatalf("tar: %+v", r)
		}
		tarData = append(tarData, r.Data...)
		if !r.More {
			break
		}
	}
	if !bytes.Contains(tarData, []byte("d/f.txt")) {
		t.Errorf("tar lacks d/f.txt")
	}

	// A cancel ends a running command early.
	start := time.Now()
	id = s.send(Request{Op: OpTool, Tool: "Bash", Args: json.RawMessage(`{"command":"sleep 20"}`)})
	time.Sleep(200 * time.Millisecond)
	WriteFrame(s.w, Request{Op: OpCancel, Target: id})
	r := s.recv()
	if r.ID != id || r.Result == nil || !strings.Contains(r.Result.Output, "cancelled") {
		t.Fatalf("cancel: %+v", r)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}

	s.roundTrip(Request{Op: OpShutdown})
	if err := <-s.err; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestServeEndsWhenInputEnds(t *testing.T) {
	s := startSession(t, Config{Root: t.TempDir()})
	s.w.Close()
	select {
	case err := <-s.err:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop when its input ended")
	}
}

func TestServeRunDeadline(t *testing.T) {
	s := startSession(t, Config{Root: t.TempDir(), RunDeadlineMS: 300})
	select {
	case <-s.err:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve outlived its run deadline")
	}
}

func TestServeRefusesBadStart(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
	}{
		{"not init first", frame(t, Request{ID: 1, Op: OpTool})},
		{"relative root", frame(t, Request{ID: 1, Op: OpInit, Args: json.RawMessage(`{"root":"rel"}`)})},
		{"garbage", []byte{0, 0, 0, 3, 'x', 'y', 'z'}},
		{"huge frame", []byte{0xff, 0xff, 0xff, 0xff}},
		{"truncated frame", []byte{0, 0, 0, 9, '{'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Serve(context.Background(), bytes.NewReader(tt.input), io.Discard, io.Discard, nil)
			if err == nil {
				t.Fatal("Serve accepted a bad start")
			}
		})
	}
	if err := Serve(context.Background(), bytes.NewReader(nil), io.Discard, io.Discard, nil); err != nil {
		t.Errorf("empty input: %v", err)
	}
	// A setting from a newer replay is refused, saying what to do.
	in := frame(t, Request{ID: 1, Op: OpInit, Args: json.RawMessage(`{"root":"` + t.TempDir() + `","from_the_future":true}`)})
	err := Serve(context.Background(), bytes.NewReader(in), io.Discard, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "older than the replay that started it") {
		t.Errorf("an unknown setting: %v", err)
	}
}

func frame(t *testing.T, v any) []byte {
	var b bytes.Buffer
	if err := WriteFrame(&b, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFrameTooLarge(t *testing.T) {
	err := NewFrameReader(bytes.NewReader([]byte{0x7f, 0, 0, 0})).Next(&Request{})
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v", err)
	}
}
