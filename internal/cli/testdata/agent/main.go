// Command agent is a small agent for the black-box tests: it talks plain
// HTTP to the model at the base URL of its environment, in one wire format
// (chat: OpenAI Chat Completions, responses: OpenAI Responses, messages:
// Anthropic Messages), streamed or not, and runs the tools the model asks
// for (read_file, run, edit_file) itself, in its working directory, until
// the model gives a verdict, which it prints.
//
//	agent FORMAT [-stream] [-other]
//
// -other makes it a changed program: its first read_file reads NOTES.md
// whatever the model asked.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
)

const system = "You review the repository in the working directory. Use the tools; end with a JSON verdict."
const task = "Review this repository and decide: approve or reject."

type call struct{ ID, Name, Args string }

func main() {
	if len(os.Args) < 2 {
		fail("usage: agent chat|responses|messages [-stream] [-other]")
	}
	format := os.Args[1]
	stream, other := false, false
	for _, a := range os.Args[2:] {
		switch a {
		case "-stream":
			stream = true
		case "-other":
			other = true
		}
	}
	var history []any // format-specific input items
	reads := 0
	for turn := 0; turn < 10; turn++ {
		text, calls := ask(format, stream, history)
		if len(calls) == 0 {
			fmt.Println(text)
			return
		}
		var results []string
		for _, c := range calls {
			var a map[string]string
			json.Unmarshal([]byte(c.Args), &a)
			var out string
			switch c.Name {
			case "read_file":
				p := a["path"]
				if other && reads == 0 {
					p = "NOTES.md"
				}
				reads++
				b, err := os.ReadFile(p)
				out = string(b)
				if err != nil {
					out = "error: " + err.Error()
				}
			case "run":
				b, _ := exec.Command("sh", "-c", a["command"]).CombinedOutput()
				out = string(b)
			case "edit_file":
				b, err := os.ReadFile(a["path"])
				if err == nil {
					err = os.WriteFile(a["path"], []byte(strings.Replace(string(b), a["old"], a["new"], 1)), 0o644)
				}
				out = "edited " + a["path"]
				if err != nil {
					out = "error: " + err.Error()
				}
			default:
				out = "error: no tool " + c.Name
			}
			results = append(results, out)
		}
		history = append(history, turnItems(format, text, calls, results)...)
	}
	fail("no verdict after 10 turns")
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "agent:", msg)
	os.Exit(1)
}

var toolSpecs = []struct{ name, desc string }{
	{"read_file", "Read a file: {path}"},
	{"run", "Run a shell command: {command}"},
	{"edit_file", "Replace old with new in a file: {path, old, new}"},
}

// turnItems are the assistant's tool calls and their results, as the
// format carries them in the next request.
func turnItems(format, text string, calls []call, results []string) []any {
	var items []any
	switch format {
	case "chat":
		var tcs []any
		for _, c := range calls {
			tcs = append(tcs, map[string]any{"id": c.ID, "type": "function", "function": map[string]any{"name": c.Name, "arguments": c.Args}})
		}
		items = append(items, map[string]any{"role": "assistant", "content": text, "tool_calls": tcs})
		for i, c := range calls {
			items = append(items, map[string]any{"role": "tool", "tool_call_id": c.ID, "content": results[i]})
		}
	case "responses":
		for _, c := range calls {
			items = append(items, map[string]any{"type": "function_call", "call_id": c.ID, "name": c.Name, "arguments": c.Args})
		}
		for i, c := range calls {
			items = append(items, map[string]any{"type": "function_call_output", "call_id": c.ID, "output": results[i]})
		}
	case "messages":
		var content []any
		if text != "" {
			content = append(content, map[string]any{"type": "text", "text": text})
		}
		for _, c := range calls {
			content = append(content, map[string]any{"type": "tool_use", "id": c.ID, "name": c.Name, "input": json.RawMessage(c.Args)})
		}
		items = append(items, map[string]any{"role": "assistant", "content": content})
		var res []any
		for i, c := range calls {
			res = append(res, map[string]any{"type": "tool_result", "tool_use_id": c.ID, "content": results[i]})
		}
		items = append(items, map[string]any{"role": "user", "content": res})
	}
	return items
}

func ask(format string, stream bool, history []any) (string, []call) {
	var url string
	var body map[string]any
	h := http.Header{"Content-Type": {"application/json"}}
	switch format {
	case "chat":
		url = os.Getenv("OPENAI_BASE_URL") + "/chat/completions"
		h.Set("Authorization", "Bearer "+os.Getenv("OPENAI_API_KEY"))
		var tools []any
		for _, t := range toolSpecs {
			tools = append(tools, map[string]any{"type": "function", "function": map[string]any{"name": t.name, "description": t.desc, "parameters": map[string]any{"type": "object"}}})
		}
		msgs := []any{map[string]any{"role": "system", "content": system}, map[string]any{"role": "user", "content": task}}
		body = map[string]any{"model": "gpt-4o", "messages": append(msgs, history...), "tools": tools}
	case "responses":
		url = os.Getenv("OPENAI_BASE_URL") + "/responses"
		h.Set("Authorization", "Bearer "+os.Getenv("OPENAI_API_KEY"))
		var tools []any
		for _, t := range toolSpecs {
			tools = append(tools, map[string]any{"type": "function", "name": t.name, "description": t.desc, "parameters": map[string]any{"type": "object"}})
		}
		input := []any{map[string]any{"role": "user", "content": task}}
		body = map[string]any{"model": "gpt-4o", "instructions": system, "input": append(input, history...), "tools": tools}
	case "messages":
		url = os.Getenv("ANTHROPIC_BASE_URL") + "/v1/messages"
		h.Set("x-api-key", os.Getenv("ANTHROPIC_API_KEY"))
		h.Set("anthropic-version", "2023-06-01")
		var tools []any
		for _, t := range toolSpecs {
			tools = append(tools, map[string]any{"name": t.name, "description": t.desc, "input_schema": map[string]any{"type": "object"}})
		}
		msgs := []any{map[string]any{"role": "user", "content": task}}
		body = map[string]any{"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": system, "messages": append(msgs, history...), "tools": tools}
	default:
		fail("unknown format " + format)
	}
	if stream {
		body["stream"] = true
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail(err.Error())
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		msg, _ := io.ReadAll(resp.Body)
		fail(fmt.Sprintf("model answered %d: %s", resp.StatusCode, msg))
	}
	if stream {
		return parseStream(format, resp.Body)
	}
	raw, _ := io.ReadAll(resp.Body)
	return parseBody(format, raw)
}

func parseBody(format string, raw []byte) (string, []call) {
	var text string
	var calls []call
	switch format {
	case "chat":
		var r struct {
			Choices []struct {
				Message struct {
					Content   string `json:"content"`
					ToolCalls []struct {
						ID       string `json:"id"`
						Function struct{ Name, Arguments string }
					} `json:"tool_calls"`
				}
			}
		}
		if err := json.Unmarshal(raw, &r); err != nil || len(r.Choices) == 0 {
			fail("bad chat answer: " + string(raw))
		}
		m := r.Choices[0].Message
		text = m.Content
		for _, tc := range m.ToolCalls {
			calls = append(calls, call{tc.ID, tc.Function.Name, tc.Function.Arguments})
		}
	case "responses":
		var r struct {
			Output []struct {
				Type, CallID, Name, Arguments string
				CallID2                       string `json:"call_id"`
				Content                       []struct{ Type, Text string }
			}
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			fail("bad responses answer: " + string(raw))
		}
		for _, o := range r.Output {
			switch o.Type {
			case "function_call":
				calls = append(calls, call{o.CallID2, o.Name, o.Arguments})
			case "message":
				for _, c := range o.Content {
					text += c.Text
				}
			}
		}
	case "messages":
		var r struct {
			Content []struct {
				Type, ID, Name, Text string
				Input                json.RawMessage
			}
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			fail("bad messages answer: " + string(raw))
		}
		for _, c := range r.Content {
			switch c.Type {
			case "text":
				text += c.Text
			case "tool_use":
				calls = append(calls, call{c.ID, c.Name, string(c.Input)})
			}
		}
	}
	return text, calls
}

// parseStream reads the answer's server-sent events.
func parseStream(format string, body io.Reader) (string, []call) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var text strings.Builder
	var calls []call
	args := map[int]*strings.Builder{}
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		switch format {
		case "chat":
			var ch struct {
				Choices []struct {
					Delta struct {
						Content   string `json:"content"`
						ToolCalls []struct {
							Index    int    `json:"index"`
							ID       string `json:"id"`
							Function struct{ Name, Arguments string }
						} `json:"tool_calls"`
					}
				}
			}
			json.Unmarshal([]byte(data), &ch)
			for _, c := range ch.Choices {
				text.WriteString(c.Delta.Content)
				for _, tc := range c.Delta.ToolCalls {
					for len(calls) <= tc.Index {
						calls = append(calls, call{})
					}
					if tc.ID != "" {
						calls[tc.Index].ID = tc.ID
					}
					if tc.Function.Name != "" {
						calls[tc.Index].Name = tc.Function.Name
					}
					calls[tc.Index].Args += tc.Function.Arguments
				}
			}
		case "responses":
			var ev struct {
				Type     string          `json:"type"`
				Response json.RawMessage `json:"response"`
			}
			json.Unmarshal([]byte(data), &ev)
			if ev.Type == "response.completed" {
				return parseBody("responses", ev.Response)
			}
		case "messages":
			var ev struct {
				Type         string `json:"type"`
				Index        int    `json:"index"`
				ContentBlock struct {
					Type, ID, Name string
				} `json:"content_block"`
				Delta struct {
					Type, Text  string
					PartialJSON string `json:"partial_json"`
				} `json:"delta"`
			}
			json.Unmarshal([]byte(data), &ev)
			switch ev.Type {
			case "content_block_start":
				if ev.ContentBlock.Type == "tool_use" {
					calls = append(calls, call{ID: ev.ContentBlock.ID, Name: ev.ContentBlock.Name})
					args[ev.Index] = &strings.Builder{}
				}
			case "content_block_delta":
				switch ev.Delta.Type {
				case "text_delta":
					text.WriteString(ev.Delta.Text)
				case "input_json_delta":
					if b := args[ev.Index]; b != nil {
						b.WriteString(ev.Delta.PartialJSON)
						calls[len(calls)-1].Args = b.String()
					}
				}
			}
		}
	}
	for i := range calls {
		if calls[i].Args == "" {
			calls[i].Args = "{}"
		}
	}
	return text.String(), calls
}
