package sandbox

import (
	"encoding/json"

	"github.com/agentreplay/replay/replay/trace"
)

// ToolDef describes a tool the sandbox executes, for offering it to a
// model: Claude Code transcripts record no tool definitions, so a replay
// through an OpenAI-compatible API offers these.
type ToolDef = trace.ToolDef

// ClaudeCodeTools are Claude Code's built-in tools that the sandbox runs,
// with their argument schemas (descriptions are our own, short ones).
func ClaudeCodeTools() []ToolDef {
	return []ToolDef{
		def("Bash", "Run a shell command in the workspace. The working directory persists between calls.", schema(`{
			"command": {"type": "string", "description": "The command to run"},
			"timeout": {"type": "number", "description": "Timeout in milliseconds (at most 600000)"},
			"description": {"type": "string", "description": "What the command does, in a few words"}
		}`, "command")),
		def("Read", "Read a file, with line numbers.", schema(`{
			"file_path": {"type": "string", "description": "Absolute path of the file"},
			"offset": {"type": "number", "description": "Line number to start at"},
			"limit": {"type": "number", "description": "Number of lines to read (default 2000)"}
		}`, "file_path")),
		def("Write", "Write a file, replacing it if it exists.", schema(`{
			"file_path": {"type": "string", "description": "Absolute path of the file"},
			"content": {"type": "string", "description": "The whole new content"}
		}`, "file_path", "content")),
		def("Edit", "Replace an exact string in a file; it must be unique unless replace_all is set.", schema(`{
			"file_path": {"type": "string", "description": "Absolute path of the file"},
			"old_string": {"type": "string", "description": "The text to replace"},
			"new_string": {"type": "string", "description": "The replacement"},
			"replace_all": {"type": "boolean", "description": "Replace every occurrence", "default": false}
		}`, "file_path", "old_string", "new_string")),
		def("MultiEdit", "Apply several exact replacements to one file, in order, all or nothing.", schema(`{
			"file_path": {"type": "string", "description": "Absolute path of the file"},
			"edits": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
				"old_string": {"type": "string"}, "new_string": {"type": "string"}, "replace_all": {"type": "boolean", "default": false}
			}, "required": ["old_string", "new_string"], "additionalProperties": false}}
		}`, "file_path", "edits")),
		def("Glob", "Find files by glob pattern (\"**/*.go\"), oldest first.", schema(`{
			"pattern": {"type": "string", "description": "The glob pattern"},
			"path": {"type": "string", "description": "Directory to search (default: the working directory)"}
		}`, "pattern")),
		def("Grep", "Search file contents with a regular expression (ripgrep semantics).", schema(`{
			"pattern": {"type": "string", "description": "The regular expression"},
			"path": {"type": "string", "description": "File or directory to search"},
			"glob": {"type": "string", "description": "Only files matching this glob (\"*.{ts,tsx}\")"},
			"type": {"type": "string", "description": "Only files of this type (go, js, py, …)"},
			"output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
			"-i": {"type": "boolean", "description": "Case insensitive"},
			"-n": {"type": "boolean", "description": "Line numbers (content mode)"},
			"-A": {"type": "number", "description": "Lines after each match"},
			"-B": {"type": "number", "description": "Lines before each match"},
			"-C": {"type": "number", "description": "Lines around each match"},
			"multiline": {"type": "boolean", "description": "Let . and patterns span lines"},
			"head_limit": {"type": "number", "description": "At most this many results"},
			"offset": {"type": "number", "description": "Skip this many results"}
		}`, "pattern")),
		def("LS", "List a directory as a tree.", schema(`{
			"path": {"type": "string", "description": "Absolute path of the directory"},
			"ignore": {"type": "array", "items": {"type": "string"}, "description": "Glob patterns to leave out"}
		}`, "path")),
	}
}

// GenericTools is the generic tool set, plain names and plain results, for
// models that were not trained on Claude Code's tools.
func GenericTools() []ToolDef {
	return []ToolDef{
		def("shell", "Run a command in the workspace and return its output and exit code.", schema(`{
			"command": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}], "description": "A shell command, or an argv array run without a shell"},
			"workdir": {"type": "string", "description": "Directory to run in"},
			"timeout_ms": {"type": "number", "description": "Timeout in milliseconds"}
		}`, "command")),
		def("read_file", "Read a text file.", schema(`{
			"path": {"type": "string"},
			"offset": {"type": "number", "description": "First line (1-based)"},
			"limit": {"type": "number", "description": "Number of lines"}
		}`, "path")),
		def("write_file", "Create or replace a file.", schema(`{
			"path": {"type": "string"},
			"content": {"type": "string"}
		}`, "path", "content")),
		def("edit_file", "Replace exact text in a file (unique unless replace_all), or apply several edits.", schema(`{
			"path": {"type": "string"},
			"old_string": {"type": "string"},
			"new_string": {"type": "string"},
			"replace_all": {"type": "boolean", "default": false},
			"edits": {"type": "array", "items": {"type": "object", "properties": {
				"old_string": {"type": "string"}, "new_string": {"type": "string"}, "replace_all": {"type": "boolean"}
			}, "required": ["old_string", "new_string"]}}
		}`, "path")),
		def("glob", "Find files by glob pattern.", schema(`{
			"pattern": {"type": "string"},
			"path": {"type": "string"}
		}`, "pattern")),
		def("grep", "Search file contents with a regular expression.", schema(`{
			"pattern": {"type": "string"},
			"path": {"type": "string"},
			"glob": {"type": "string"},
			"output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
			"ignore_case": {"type": "boolean"},
			"context": {"type": "number"}
		}`, "pattern")),
		def("list_dir", "List a directory (one level; directories end in /).", schema(`{
			"path": {"type": "string"}
		}`)),
	}
}

func schema(props string, required ...string) json.RawMessage {
	var p json.RawMessage = json.RawMessage(props)
	s := map[string]any{"type": "object", "properties": p, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic("sandbox: bad tool schema: " + err.Error())
	}
	return b
}

func def(name, description string, schema json.RawMessage) ToolDef {
	return ToolDef{Name: name, Description: description, Schema: schema}
}
