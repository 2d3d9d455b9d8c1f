#include "image/http.hpp"

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <strings.h>

#include <fmt/format.h>

#include <exception>

#include "common/error.hpp"

namespace roost::image {

namespace {

constexpr const char* kCurlLibrary = "libcurl.so.4";
constexpr long kConnectTimeoutSeconds = 30;
// A transfer slower than this many bytes a second for kLowSpeedSeconds is given up.
constexpr long kLowSpeedBytes = 1;
constexpr long kLowSpeedSeconds = 60;
constexpr long kMaxRedirects = kMaxHttpRedirects;

// The part of libcurl's API roost calls, resolved by name from the loaded library.
struct CurlApi {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_reset)(CURL*);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

template <typename Function>
void resolve(void* library, const char* name, Function& function) {
  void* symbol = ::dlsym(library, name);
  if (symbol == nullptr)
    throw Error(fmt::format("load {}: it has no {}; install Debian's libcurl4 package",
                            kCurlLibrary, name));
  function = reinterpret_cast<Function>(symbol);
}

CurlApi load_curl() {
  void* library = ::dlopen(kCurlLibrary, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr)
    throw Error(fmt::format("load {} to reach registries: {}; install Debian's libcurl4 package",
                            kCurlLibrary, ::dlerror()));
  CurlApi api;
  resolve(library, "curl_global_init", api.global_init);
  resolve(library, "curl_easy_init", api.easy_init);
  resolve(library, "curl_easy_setopt", api.easy_setopt);
  resolve(library, "curl_easy_perform", api.easy_perform);
  resolve(library, "curl_easy_getinfo", api.easy_getinfo);
  resolve(library, "curl_easy_reset", api.easy_reset);
  resolve(library, "curl_easy_cleanup", api.easy_cleanup);
  resolve(library, "curl_easy_strerror", api.easy_strerror);
  resolve(library, "curl_slist_append", api.slist_append);
  resolve(library, "curl_slist_free_all", api.slist_free_all);
  if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    throw Error(fmt::format("initialise {}: curl_global_init failed", kCurlLibrary));
  return api;
}

// The library stays loaded for the rest of the process once it has been needed.
const CurlApi& curl() {
  static const CurlApi api = load_curl();
  return api;
}

// What the callbacks of one transfer share.
struct Transfer {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse response;
  std::exception_ptr sink_failure;
  bool body_too_long = false;
};

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' '))
    text.remove_suffix(1);
  return text;
}

bool header_is(std::string_view line, std::string_view name) {
  return line.size() > name.size() && line[name.size()] == ':' &&
         ::strncasecmp(line.data(), name.data(), name.size()) == 0;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  // A redirect starts a new set of headers; only the last response's count.
  if (line.starts_with("HTTP/")) {
    transfer.response.content_type.clear();
    transfer.response.www_authenticate.clear();
  } else if (header_is(line, "content-type")) {
    transfer.response.content_type = trimmed(line.substr(13));
  } else if (header_is(line, "www-authenticate")) {
    transfer.response.www_authenticate = trimmed(line.substr(17));
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& transfer = *static_cast<Transfer*>(user);
  std::string_view chunk(data, size * count);
  long status = 0;
  curl().easy_getinfo(transfer.curl, CURLINFO_RESPONSE_CODE, &status);
  if (transfer.request->body_sink && status >= 200 && status < 300) {
    try {
      transfer.request->body_sink(chunk);
    } catch (...) {
      transfer.sink_failure = std::current_exception();
      return 0;
    }
    return chunk.size();
  }
  if (transfer.response.body.size() + chunk.size() > transfer.request->max_kept_body) {
    transfer.body_too_long = true;
    return 0;
  }
  transfer.response.body.append(chunk);
  return chunk.size();
}

bool is_tls_failure(CURLcode code) {
  return code == CURLE_SSL_CONNECT_ERROR || code == CURLE_PEER_FAILED_VERIFICATION ||
         code == CURLE_SSL_CERTPROBLEM || code == CURLE_SSL_CACERT_BADFILE;
}

}  // namespace

struct HttpClient::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) roost::image::curl().easy_cleanup(curl);
  }
};

HttpClient::HttpClient() : handle_(std::make_unique<Handle>()) {
  handle_->curl = curl().easy_init();
  if (handle_->curl == nullptr) throw Error("start an HTTP client: curl_easy_init failed");
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::get(const HttpRequest& request) {
  const CurlApi& api = curl();
  CURL* handle = handle_->curl;
  // A reset keeps the connections and the DNS cache; only the options go.
  api.easy_reset(handle);
  Transfer transfer{handle, &request, {}, nullptr, false};
  curl_slist* headers = nullptr;
  for (const auto& header : request.headers) headers = api.slist_append(headers, header.c_str());
  api.easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  api.easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  api.easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  api.easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, kLowSpeedBytes);
  api.easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, kLowSpeedSeconds);
  api.easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  api.easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  api.easy_setopt(handle, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  api.easy_setopt(handle, CURLOPT_MAXREDIRS, kMaxRedirects);
  api.easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L);
  api.easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L);
  api.easy_setopt(handle, CURLOPT_USERAGENT, "roost/" ROOST_VERSION);
  if (!request.basic_credentials.empty()) {
    api.easy_setopt(handle, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    api.easy_setopt(handle, CURLOPT_USERPWD, request.basic_credentials.c_str());
  }
  api.easy_setopt(handle, CURLOPT_HEADERFUNCTION, on_header);
  api.easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);
  api.easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
  api.easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
  char reason[CURL_ERROR_SIZE] = "";
  api.easy_setopt(handle, CURLOPT_ERRORBUFFER, reason);
  CURLcode code = api.easy_perform(handle);
  api.slist_free_all(headers);
  if (transfer.sink_failure) std::rethrow_exception(transfer.sink_failure);
  HttpResponse response = std::move(transfer.response);
  api.easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  if (transfer.body_too_long)
    response.failure = fmt::format("the response is longer than {} bytes", request.max_kept_body);
  else if (code != CURLE_OK)
    response.failure = reason[0] != '\0' ? reason : api.easy_strerror(code);
  response.tls_failed = is_tls_failure(code);
  response.body_too_long = transfer.body_too_long;
  response.too_many_redirects = code == CURLE_TOO_MANY_REDIRECTS;
  return response;
}

}  // namespace roost::image
