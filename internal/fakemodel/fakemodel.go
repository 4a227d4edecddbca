// Package fakemodel is a scripted OpenAI-compatible chat.completions
// server: tests and the README's demo use it where a real model would
// answer. It speaks the wire format OpenAI does (tool calls, usage with
// cached tokens), and answers from a script:
//
//	[{"match": "security problems",            // a substring of the first user message ("" matches all)
//	  "answers": [                              // the k-th answer of a conversation with k assistant messages
//	    {"tool_calls": [{"name": "Read", "arguments": {"file_path": "/w/a.py"}}]},
//	    {"content": "No problems."}]}]
//
// Conversations past their last answer get the last one again.
package fakemodel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
)

// Script is what the server answers.
type Script []Entry

// Entry scripts the conversations whose first user message contains Match.
type Entry struct {
	Match string `json:"match"`
	// System, when set, limits the entry to conversations whose system
	// message contains it (a prompt version the script answers apart).
	System  string   `json:"system,omitempty"`
	Answers []Answer `json:"answers"`
}

// Answer is one model response.
type Answer struct {
	Content   string     `json:"content,omitempty"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// ToolCall is one call of an answer.
type ToolCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Load reads a script file.
func Load(path string) (Script, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Script
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Server answers /v1/chat/completions (and /chat/completions) from a script.
type Server struct {
	Script Script
	mu     sync.Mutex
	n      int
}

type request struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/chat/completions") || r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`)
		return
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"message":%q,"type":"invalid_request_error"}}`, err.Error())
		return
	}
	first, system, turns, chars := "", "", 0, 0
	for _, m := range req.Messages {
		chars += len(m.Content)
		switch m.Role {
		case "system", "developer":
			var text string
			if json.Unmarshal(m.Content, &text) != nil {
				text = string(m.Content)
			}
			system += text
		case "user":
			if first == "" {
				var text string
				if json.Unmarshal(m.Content, &text) != nil {
					text = string(m.Content)
				}
				first = text
			}
		case "assistant":
			turns++
		}
	}
	a := s.answer(first, system, turns)
	s.mu.Lock()
	s.n++
	id := s.n
	s.mu.Unlock()
	msg := map[string]any{"role": "assistant", "content": nil}
	finish := "stop"
	if len(a.ToolCalls) > 0 {
		var calls []map[string]any
		for i, c := range a.ToolCalls {
			args := string(c.Arguments)
			if args == "" {
				args = "{}"
			}
			calls = append(calls, map[string]any{"id": fmt.Sprintf("call_%d_%d", id, i), "type": "function", "function": map[string]any{"name": c.Name, "arguments": args}})
		}
		msg["tool_calls"] = calls
		finish = "tool_calls"
	}
	if a.Content != "" {
		msg["content"] = a.Content
	}
	prompt := 20 + chars/4
	cached := prompt / 2 / 1024 * 1024
	completion := 10 + len(a.Content)/4
	for _, c := range a.ToolCalls {
		completion += len(c.Arguments) / 4
	}
	model := req.Model
	if model == "" {
		model = "fake-model"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprintf("chatcmpl-fake%d", id), "object": "chat.completion", "created": 1764064800, "model": model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
			"prompt_tokens_details":     map[string]any{"cached_tokens": cached},
			"completion_tokens_details": map[string]any{"reasoning_tokens": 0}},
	})
}

func (s *Server) answer(first, system string, turns int) Answer {
	for _, e := range s.Script {
		if strings.Contains(first, e.Match) && strings.Contains(system, e.System) && len(e.Answers) > 0 {
			return e.Answers[min(turns, len(e.Answers)-1)]
		}
	}
	return Answer{Content: "(the fake model has no scripted answer for this conversation)"}
}
