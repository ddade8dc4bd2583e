package main

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGreetUsesName(t *testing.T) {
	recorder := httptest.NewRecorder()
	newMux().ServeHTTP(recorder, httptest.NewRequest("GET", "/?name=gopher", nil))
	if got := recorder.Body.String(); !strings.HasPrefix(got, "hello, gopher,") {
		t.Fatalf("body = %q, want a greeting for gopher", got)
	}
}

func TestGreetDefaultsToWorld(t *testing.T) {
	recorder := httptest.NewRecorder()
	newMux().ServeHTTP(recorder, httptest.NewRequest("GET", "/", nil))
	if got := recorder.Body.String(); !strings.HasPrefix(got, "hello, world,") {
		t.Fatalf("body = %q, want a greeting for world", got)
	}
}

func TestHealthz(t *testing.T) {
	recorder := httptest.NewRecorder()
	newMux().ServeHTTP(recorder, httptest.NewRequest("GET", "/healthz", nil))
	if recorder.Code != 200 {
		t.Fatalf("status = %d, want 200", recorder.Code)
	}
}
