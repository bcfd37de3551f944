// Package fixedresponse is the ALB listener's fixed-response action for Traefik: a request
// no path rule claims gets the status, content type and body the listener's default action
// names (infra/templates/platform.yaml: 404, text/plain, "no service matches this path"),
// instead of Traefik's own "404 page not found". Traefik runs it with its Go interpreter
// (a local plugin, compose.yaml): nothing is downloaded, nothing compiled.
package fixedresponse

import (
	"context"
	"net/http"
	"strconv"
)

// Config is the FixedResponseConfig of an ALB action.
type Config struct {
	StatusCode  int    `json:"statusCode,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	MessageBody string `json:"messageBody,omitempty"`
}

// CreateConfig returns the ALB's defaults for a fixed response: 200, text/plain, no body.
func CreateConfig() *Config {
	return &Config{StatusCode: http.StatusOK, ContentType: "text/plain"}
}

// FixedResponse answers every request itself; the router's service is never called.
type FixedResponse struct {
	config *Config
}

// New builds the middleware from its dynamic configuration.
func New(_ context.Context, _ http.Handler, config *Config, _ string) (http.Handler, error) {
	return &FixedResponse{config: config}, nil
}

// ServeHTTP writes the fixed answer, with its length, as the ALB does.
func (f *FixedResponse) ServeHTTP(rw http.ResponseWriter, _ *http.Request) {
	body := []byte(f.config.MessageBody)
	rw.Header().Set("Content-Type", f.config.ContentType)
	rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rw.WriteHeader(f.config.StatusCode)
	_, _ = rw.Write(body)
}
