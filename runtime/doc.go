// Package runtime executes an applied programme against a contact store:
// contacts, events, enrollments and sends; the store adapters, the engine
// that runs one tick, the scheduler, the SMTP sender and the tracking
// server.
//
// It takes a compiled campaigns.Program and never imports the compiler, so
// neither CUE nor Markdown is parsed while email goes out.
package runtime
