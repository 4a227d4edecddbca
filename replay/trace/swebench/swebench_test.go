package swebench

import "testing"

func TestRepo(t *testing.T) {
	for _, tt := range []struct{ id, repo, num string }{
		{"pydicom__pydicom-1458", "pydicom/pydicom", "1458"},
		{"marshmallow-code__marshmallow-1867", "marshmallow-code/marshmallow", "1867"},
		{"swe-agent__test-repo-i1", "swe-agent/test-repo", "1"},
		{"ponylang__ponyc-4595", "ponylang/ponyc", "4595"},
		{"django__django-11099", "django/django", "11099"},
		{"BabyEncryption", "", ""},
		{"owner__repo", "", ""},
		{"", "", ""},
	} {
		repo, ok := Repo(tt.id)
		if repo != tt.repo || ok != (tt.repo != "") || Number(tt.id) != tt.num {
			t.Errorf("Repo(%q) = %q, %v; Number %q; want %q, %q", tt.id, repo, ok, Number(tt.id), tt.repo, tt.num)
		}
	}
}
