#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace roost::image {

// Redirects followed for one request before it is given up as a loop.
constexpr long kMaxHttpRedirects = 10;

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string basic_credentials;     // USER:PASS, sent to the host of `url` alone
  bool verify_tls = true;
  bool follow_redirects = false;
  // Where the body of a 2xx response goes; other bodies are kept in HttpResponse::body.
  std::function<void(std::string_view)> body_sink;
  // A kept body longer than this ends the transfer with an error.
  size_t max_kept_body = 32 << 20;
};

struct HttpResponse {
  long status = 0;
  std::string content_type;
  std::string www_authenticate;
  std::string body;
  // Why no response arrived (connection refused, a TLS failure, a body too long...); empty
  // when one did. `tls_failed` tells a failed TLS handshake apart.
  std::string failure;
  bool tls_failed = false;
  bool body_too_long = false;       // longer than max_kept_body
  bool too_many_redirects = false;  // a redirect loop, most likely
};

// HTTP GETs over one libcurl handle, so that connections to a registry are reused.
// libcurl is loaded when the first client is made, not at start-up: only pulls need it,
// and every other command (above all run) would pay for loading it and the dozen
// libraries it needs.
class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // A body sink that throws ends the transfer and the exception goes on to the caller.
  HttpResponse get(const HttpRequest& request);

 private:
  struct Handle;
  std::unique_ptr<Handle> handle_;
};

}  // namespace roost::image
