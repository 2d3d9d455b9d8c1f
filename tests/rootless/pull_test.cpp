// Pull from a real registry (Debian's docker-registry on 127.0.0.1) that skopeo fills:
// Docker schema 2 and OCI manifests, indexes, digests, compressed layers, basic auth, and
// every refusal, each leaving nothing in the store.

#include <signal.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/rootless/support/fixtures.hpp"
#include "tests/rootless/support/registry.hpp"
#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;

class Pull : public RoostTest {
 protected:
  void SetUp() override {
    RoostTest::SetUp();
    registry_ = std::make_unique<LocalRegistry>(scratch("registry"));
  }
  void TearDown() override {
    registry_.reset();
    RoostTest::TearDown();
  }

  LocalRegistry& registry() { return *registry_; }

  void push_busybox(const std::string& name, const std::vector<std::string>& options = {}) {
    registry().push("oci:" + fixtures::busybox_layout().string() + ":1", name, options);
  }

  Outcome pull(const std::string& image, const std::vector<std::string>& options = {}) {
    std::vector<std::string> args = {"pull"};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(image);
    return roost(args);
  }

  // A refused pull: status 125, one line naming `expected`, and nothing in the store.
  void expect_refused(const Outcome& outcome, const std::vector<std::string>& expected) {
    EXPECT_EQ(outcome.exit_code, 125) << outcome.describe();
    EXPECT_EQ(outcome.out, "") << outcome.describe();
    std::vector<std::string> errors;
    for (const auto& line : lines_of(outcome.err))
      if (line.starts_with("Error: ")) errors.push_back(line);
    ASSERT_EQ(errors.size(), 1u) << outcome.describe();
    for (const auto& part : expected)
      EXPECT_NE(errors[0].find(part), std::string::npos) << part << "\n" << outcome.describe();
    expect_store_empty();
  }

  void expect_store_empty() {
    EXPECT_TRUE(image_ids().empty());
    EXPECT_TRUE(layer_dirs().empty());
    fs::path tmp = roost_root() / "tmp";
    EXPECT_TRUE(!fs::exists(tmp) || fs::is_empty(tmp)) << "work left in " << tmp;
  }

 private:
  std::unique_ptr<LocalRegistry> registry_;
};

bool is_image_id_line(const std::string& text) {
  return std::regex_match(text, std::regex("[0-9a-f]{64}\n"));
}

ImageSpec platform_image(const std::string& architecture, const std::string& greeting) {
  ImageSpec spec = busybox_plus({{TarEntry::file("greeting", greeting)}});
  spec.architecture = architecture;
  return spec;
}

// An architecture that is not this host's, for images that must not be chosen.
std::string foreign_architecture(int which) {
  std::vector<std::string> others;
  for (std::string arch : {"arm64", "s390x", "ppc64le", "amd64"})
    if (arch != host_architecture()) others.push_back(arch);
  return others.at(static_cast<size_t>(which));
}

TEST_F(Pull, DockerSchema2ImagePullsAndRuns) {
  push_busybox("busybox:1", {"--format", "v2s2"});
  ASSERT_NE(registry().raw_manifest("busybox:1").find("vnd.docker.distribution.manifest.v2"),
            std::string::npos);
  Outcome pulled = pull(registry().reference("busybox:1"));
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  EXPECT_TRUE(is_image_id_line(pulled.out)) << pulled.describe();
  EXPECT_NE(pulled.err.find("Copying blob"), std::string::npos) << pulled.describe();
  Outcome listed = roost({"images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"});
  EXPECT_EQ(listed.out, registry().host() + "/busybox:1 " + pulled.out.substr(0, 12) + "\n")
      << listed.describe();
  Outcome echoed = run_in(registry().host() + "/busybox:1", {"echo", "hi"});
  EXPECT_EQ(echoed.exit_code, 0) << echoed.describe();
  EXPECT_EQ(echoed.out, "hi\n");
}

TEST_F(Pull, OciImageWithZstdLayersPullsByBareHostName) {
  push_busybox("busybox:zstd", {"--format", "oci", "--dest-compress-format", "zstd"});
  std::string manifest = registry().raw_manifest("busybox:zstd");
  ASSERT_NE(manifest.find("vnd.oci.image.config.v1"), std::string::npos) << manifest;
  ASSERT_NE(manifest.find("tar+zstd"), std::string::npos) << manifest;
  Outcome pulled = pull(registry().host() + "/busybox:zstd", {"-q"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  EXPECT_TRUE(is_image_id_line(pulled.out)) << pulled.describe();
  EXPECT_EQ(pulled.err, "") << pulled.describe();
  Outcome shown = run_in(registry().host() + "/busybox:zstd", {"id", "-u"});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, "0\n");
}

TEST_F(Pull, IndexGivesTheManifestForThisHost) {
  fs::path layout = scratch("multi");
  write_oci_index_layout(
      layout,
      {platform_image(foreign_architecture(0), "foreign\n"), platform_image("", "native\n"),
       platform_image(foreign_architecture(1), "other\n")},
      "1");
  registry().push("oci:" + layout.string() + ":1", "multi:1", {"--all"});
  Outcome pulled = pull(registry().reference("multi:1"));
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  Outcome shown = run_in(registry().reference("multi:1"), {"cat", "/greeting"});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, "native\n");
}

TEST_F(Pull, IndexWithoutThisHostsPlatformIsRefusedNamingBoth) {
  fs::path layout = scratch("foreign");
  write_oci_index_layout(layout,
                         {platform_image(foreign_architecture(0), "a\n"),
                          platform_image(foreign_architecture(1), "b\n")},
                         "1");
  registry().push("oci:" + layout.string() + ":1", "foreign:1", {"--all"});
  expect_refused(pull(registry().reference("foreign:1")),
                 {"linux/" + host_architecture(), "linux/" + foreign_architecture(0),
                  "linux/" + foreign_architecture(1)});
}

TEST_F(Pull, ByDigestPullsThatManifestWithoutAName) {
  push_busybox("busybox:1");
  std::string digest = registry().digest_of("busybox:1");
  ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << digest;
  Outcome pulled = pull(registry().reference("busybox@" + digest));
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  Outcome listed = roost({"images", "--format", "{{.Repository}}:{{.Tag}}"});
  EXPECT_EQ(listed.out, "<none>:<none>\n") << listed.describe();
  Outcome echoed = run_in(registry().reference("busybox@" + digest), {"echo", "by digest"});
  EXPECT_EQ(echoed.exit_code, 0) << echoed.describe();
  EXPECT_EQ(echoed.out, "by digest\n");
}

TEST_F(Pull, ImagePulledByDigestIsFoundByItInRunInspectAndRmi) {
  push_busybox("busybox:1");
  std::string digest = registry().digest_of("busybox:1");
  std::string by_digest = registry().host() + "/busybox@" + digest;
  ASSERT_EQ(pull(by_digest, {"-q"}).exit_code, 0);
  Outcome echoed = run_in(by_digest, {"echo", "found"}, {"--pull=never"});
  EXPECT_EQ(echoed.exit_code, 0) << echoed.describe();
  EXPECT_EQ(echoed.out, "found\n");
  Outcome shown =
      roost({"image", "inspect", "--format", "{{.Digest}} {{json .RepoDigests}}", by_digest});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, digest + " [\"" + by_digest + "\"]\n") << shown.describe();
  Outcome removed = roost({"rmi", by_digest});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_TRUE(image_ids().empty()) << removed.describe();
}

TEST_F(Pull, PullByTagRecordsTheDigestsOfTheIndexAndTheManifest) {
  fs::path layout = scratch("multi");
  write_oci_index_layout(
      layout, {platform_image("", "native\n"), platform_image(foreign_architecture(0), "no\n")},
      "1");
  registry().push("oci:" + layout.string() + ":1", "multi:1", {"--all"});
  std::string index_digest = registry().digest_of("multi:1");
  ASSERT_EQ(pull(registry().host() + "/multi:1", {"-q"}).exit_code, 0);
  Outcome shown = roost({"image", "inspect", registry().host() + "/multi:1"});
  ASSERT_EQ(shown.exit_code, 0) << shown.describe();
  auto record = nlohmann::json::parse(shown.out).at(0);
  std::string manifest_digest = record.at("Digest");
  EXPECT_NE(manifest_digest, index_digest);
  EXPECT_EQ(manifest_digest.rfind("sha256:", 0), 0u) << shown.describe();
  std::vector<std::string> expected = {registry().host() + "/multi@" + index_digest,
                                       registry().host() + "/multi@" + manifest_digest};
  EXPECT_EQ(record.at("RepoDigests").get<std::vector<std::string>>(), expected);
  for (const auto& repo_digest : expected) {
    Outcome echoed = run_in(repo_digest, {"cat", "/greeting"}, {"--pull=never"});
    EXPECT_EQ(echoed.out, "native\n") << echoed.describe();
  }
}

TEST_F(Pull, DigestTheRegistryDoesNotKnowIsRefused) {
  push_busybox("busybox:1");
  std::string digest = "sha256:" + std::string(64, '0');
  expect_refused(pull(registry().reference("busybox@" + digest)), {digest, "manifest unknown"});
}

TEST_F(Pull, ManifestThatDoesNotMatchItsDigestIsRefused) {
  push_busybox("busybox:1");
  std::string digest = registry().digest_of("busybox:1");
  fs::path blob = registry().blob_file(digest);
  std::string manifest = read_file(blob);
  // Still valid JSON, and just as long: a digit of the config's size changes.
  size_t size_at = manifest.find("\"size\":");
  ASSERT_NE(size_at, std::string::npos) << manifest;
  char& digit = manifest[size_at + 7];
  digit = digit == '9' ? '8' : static_cast<char>(digit + 1);
  write_file(blob, manifest);
  expect_refused(pull(registry().reference("busybox@" + digest)),
                 {"manifest " + digest + " arrived with digest sha256:"});
}

// The layer's copy in the registry is spoilt after the first pull: a second pull that
// fetched it would fail, so succeeding shows that it fetched manifest and config alone.
TEST_F(Pull, WarmPullFetchesNoLayer) {
  push_busybox("busybox:1");
  Outcome first = pull(registry().reference("busybox:1"));
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  std::set<std::string> layers = layer_dirs();
  for (const auto& digest : layout_layer_digests(fixtures::busybox_layout())) {
    fs::path blob = registry().blob_file(digest);
    std::string data = read_file(blob);
    std::reverse(data.begin(), data.end());
    write_file(blob, data);
  }
  Outcome second = pull(registry().reference("busybox:1"));
  EXPECT_EQ(second.exit_code, 0) << second.describe();
  EXPECT_EQ(second.out, first.out);
  EXPECT_EQ(second.err.find("Copying blob"), std::string::npos) << second.describe();
  EXPECT_EQ(layer_dirs(), layers);
}

// The store's layer came from a loaded archive, uncompressed; the registry holds it gzipped
// (and spoilt, so that fetching it would fail).
TEST_F(Pull, LayerLoadedFromAnArchiveIsNotFetched) {
  push_busybox("busybox:1");
  load_busybox();
  std::set<std::string> layers = layer_dirs();
  for (const auto& digest : layout_layer_digests(fixtures::busybox_layout())) {
    fs::path blob = registry().blob_file(digest);
    std::string data = read_file(blob);
    std::reverse(data.begin(), data.end());
    write_file(blob, data);
  }
  Outcome pulled = pull(registry().reference("busybox:1"));
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  EXPECT_EQ(pulled.err.find("Copying blob"), std::string::npos) << pulled.describe();
  EXPECT_EQ(layer_dirs(), layers);
  Outcome echoed = run_in(registry().host() + "/busybox:1", {"echo", "shared"});
  EXPECT_EQ(echoed.out, "shared\n") << echoed.describe();
}

TEST_F(Pull, BlobWithWrongDigestKeepsNothing) {
  push_busybox("busybox:1");
  std::string layer = layout_layer_digests(fixtures::busybox_layout()).front();
  fs::path blob = registry().blob_file(layer);
  std::string data = read_file(blob);
  data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x55);
  write_file(blob, data);
  expect_refused(pull(registry().reference("busybox:1")), {layer, "arrived with digest"});
}

TEST_F(Pull, TwoPullsAtOnceStoreOneImage) {
  push_busybox("busybox:1");
  Spawn first = installation().spawn({"pull", "-q", registry().reference("busybox:1")});
  Background racing(first);
  Outcome second = pull(registry().reference("busybox:1"), {"-q"});
  Outcome raced = racing.finish(Millis(120000));
  ASSERT_EQ(second.exit_code, 0) << second.describe();
  ASSERT_EQ(raced.exit_code, 0) << raced.describe();
  EXPECT_EQ(raced.out, second.out);
  EXPECT_EQ(image_ids().size(), 1u);
  EXPECT_EQ(layer_dirs().size(), 1u);
  Outcome echoed = run_in(registry().host() + "/busybox:1", {"echo", "once"});
  EXPECT_EQ(echoed.out, "once\n") << echoed.describe();
}

TEST_F(Pull, RunPullsAMissingImageAndNeverMeansNever) {
  push_busybox("busybox:1");
  expect_refused(roost({"run", "--rm", "--pull=never", registry().reference("busybox:1"), "true"}),
                 {registry().reference("busybox:1"), "--pull=never"});
  Outcome echoed = run_in(registry().reference("busybox:1"), {"echo", "pulled"});
  EXPECT_EQ(echoed.exit_code, 0) << echoed.describe();
  EXPECT_EQ(echoed.out, "pulled\n");
  EXPECT_EQ(image_ids().size(), 1u);
}

TEST_F(Pull, RunWithPullAlwaysGetsTheTagsNewImage) {
  push_busybox("app:1");
  ASSERT_EQ(pull(registry().reference("app:1")).exit_code, 0);
  fs::path layout = scratch("newer");
  write_oci_layout(layout, busybox_plus({{TarEntry::file("version", "2\n")}}), "1",
                   Compression::Gzip);
  registry().push("oci:" + layout.string() + ":1", "app:1");
  Outcome missing = run_in(registry().host() + "/app:1", {"cat", "/version"});
  EXPECT_NE(missing.exit_code, 0) << "the stored image is used: " << missing.describe();
  Outcome always = run_in(registry().host() + "/app:1", {"cat", "/version"}, {"--pull=always"});
  EXPECT_EQ(always.exit_code, 0) << always.describe();
  EXPECT_EQ(always.out, "2\n");
}

TEST_F(Pull, NameWithoutRegistryIsRefused) {
  expect_refused(pull("busybox:1"), {"busybox:1", "no default registry", "docker://"});
  expect_refused(pull("docker://busybox:1"), {"no default registry"});
}

TEST_F(Pull, BadReferenceIsRefused) {
  expect_refused(pull("docker://" + registry().host() + "/BusyBox:1"), {"BusyBox", "lowercase"});
  expect_refused(pull(registry().host() + "/busybox:1@sha256:abc"), {"sha256:abc", "digest"});
}

TEST_F(Pull, UnreachableRegistryIsNamedWithCurlsReason) {
  std::string host = "127.0.0.1:" + std::to_string(free_loopback_port());
  expect_refused(pull("docker://" + host + "/busybox:1"),
                 {"cannot reach the registry " + host, "Couldn't connect to server"});
}

TEST_F(Pull, UnknownTagIsRefusedWithAHint) {
  push_busybox("busybox:1");
  expect_refused(
      pull(registry().reference("busybox:2")),
      {registry().reference("busybox:2"), "manifest unknown", "check the name and the tag"});
}

// A registry that speaks plain http, whose one image has a config of 100 bytes that it
// serves without end.
class EndlessBlobRegistry {
 public:
  static constexpr size_t kDeclaredSize = 100;
  static constexpr size_t kMostServed = size_t{256} << 20;

  EndlessBlobRegistry()
      : server_([this](const std::string& request, int client) { respond(request, client); }) {}

  std::string host() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  std::string config_digest() const { return "sha256:" + std::string(64, 'a'); }
  size_t blob_bytes_served() const { return served_; }

 private:
  static bool send_all(int client, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(client, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void respond(const std::string& request, int client) {
    std::istringstream head(request);
    std::string method, path;
    head >> method >> path;
    if (path.find("/blobs/") != std::string::npos) {
      send_all(client, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
      std::string chunk(64 << 10, 'x');
      while (served_ < kMostServed && send_all(client, chunk)) served_ += chunk.size();
      return;
    }
    std::string type = "application/json";
    std::string body = "{}";
    if (path.find("/manifests/") != std::string::npos) {
      type = "application/vnd.oci.image.manifest.v1+json";
      body = nlohmann::json{{"schemaVersion", 2},
                            {"mediaType", type},
                            {"config",
                             {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                              {"digest", config_digest()},
                              {"size", kDeclaredSize}}},
                            {"layers", nlohmann::json::array()}}
                 .dump();
    }
    send_all(client, "HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  }

  std::atomic<size_t> served_{0};
  LoopbackServer server_;
};

TEST_F(Pull, BlobLongerThanItsManifestSaysIsCutOff) {
  EndlessBlobRegistry endless;
  expect_refused(pull("docker://" + endless.host() + "/endless:1"),
                 {endless.config_digest(), "longer than the 100 bytes its manifest gives"});
  EXPECT_LT(endless.blob_bytes_served(), EndlessBlobRegistry::kMostServed);
}

TEST_F(Pull, ConfigThatIsNoContainerImageIsRefused) {
  fs::path layout = scratch("artifact");
  write_oci_layout(layout, busybox_plus({}), "1", Compression::Gzip);
  // The same manifest with another config type: an artifact, not a runnable image.
  nlohmann::json index = nlohmann::json::parse(read_file(layout / "index.json"));
  std::string old_digest = index["manifests"][0]["digest"];
  fs::path old_manifest = layout / "blobs/sha256" / old_digest.substr(7);
  nlohmann::json manifest = nlohmann::json::parse(read_file(old_manifest));
  manifest["config"]["mediaType"] = "application/vnd.example.artifact.config.v1+json";
  std::string text = manifest.dump();
  std::string hex = sha256_hex(text);
  write_file(layout / "blobs/sha256" / hex, text);
  fs::remove(old_manifest);
  index["manifests"][0]["digest"] = "sha256:" + hex;
  index["manifests"][0]["size"] = text.size();
  write_file(layout / "index.json", index.dump());
  registry().push("oci:" + layout.string() + ":1", "artifact:1", {"--preserve-digests"});
  expect_refused(pull(registry().reference("artifact:1")),
                 {"application/vnd.example.artifact.config.v1+json", "does not support"});
}

// A registry on 127.0.0.1 whose every answer to a manifest request is `answer`, the
// raw HTTP response; every other request gets 404.
class ScriptedManifestServer {
 public:
  explicit ScriptedManifestServer(std::string answer)
      : answer_(std::move(answer)),
        server_([this](const std::string& request, int client) { respond(request, client); }) {}

  std::string host() const { return "127.0.0.1:" + std::to_string(server_.port()); }

 private:
  void respond(const std::string& request, int client) {
    std::string response = request.find("/manifests/") != std::string::npos
                               ? answer_
                               : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    std::string_view data = response;
    while (!data.empty()) {
      ssize_t n = ::send(client, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

  std::string answer_;
  LoopbackServer server_;
};

TEST_F(Pull, ManifestLongerThanTheLimitIsNamedAsSuch) {
  std::string body(5 << 20, ' ');
  ScriptedManifestServer server(
      std::string("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n") +
      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  Outcome refused = pull(server.host() + "/big:1");
  expect_refused(refused, {"/v2/big/manifests/1", "more than 4194304 bytes"});
  EXPECT_EQ(refused.err.find("cannot reach"), std::string::npos) << refused.describe();
}

TEST_F(Pull, RedirectLoopIsNamedAsSuch) {
  ScriptedManifestServer server(
      "HTTP/1.1 302 Found\r\nLocation: /v2/loop/manifests/1\r\nContent-Length: 0\r\n\r\n");
  Outcome refused = pull(server.host() + "/loop:1");
  expect_refused(refused, {"redirected /v2/loop/manifests/1 more than 10 times"});
  EXPECT_EQ(refused.err.find("cannot reach"), std::string::npos) << refused.describe();
}

TEST_F(Pull, AnswerWithoutABodyGetsTheStatusReason) {
  ScriptedManifestServer failing("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
  expect_refused(pull(failing.host() + "/app:1"),
                 {"answered manifest 1 with 500 (Internal Server Error) and an empty body"});
  ScriptedManifestServer nowhere("HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n");
  expect_refused(pull(nowhere.host() + "/app:1"),
                 {"answered manifest 1 with 302 (Found), a redirect without a Location"});
}

TEST_F(Pull, PortOutOfRangeAndEmptyUserAreRefused) {
  expect_refused(pull("127.0.0.1:99999/busybox:1"),
                 {"port 99999 of registry 127.0.0.1 is out of range"});
  expect_refused(pull("docker://127.0.0.1:99999/busybox:1"), {"port 99999"});
  push_busybox("busybox:1");
  expect_refused(pull(registry().reference("busybox:1"), {"--creds", ":x"}),
                 {"--creds :x: the user name is empty"});
}

TEST_F(Pull, UppercaseLocalhostIsALoopbackHost) {
  push_busybox("busybox:1");
  std::string port = registry().host().substr(registry().host().find(':'));
  Outcome pulled = pull("LOCALHOST" + port + "/busybox:1", {"-q"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  EXPECT_TRUE(is_image_id_line(pulled.out)) << pulled.describe();
}

class PullWithAuth : public RoostTest {
 protected:
  void SetUp() override {
    RoostTest::SetUp();
    registry_ = std::make_unique<LocalRegistry>(
        scratch("registry"), LocalRegistry::Options{"puller", "s3cret pass", "", ""});
    registry_->push("oci:" + fixtures::busybox_layout().string() + ":1", "private:1");
  }
  void TearDown() override {
    registry_.reset();
    RoostTest::TearDown();
  }
  std::unique_ptr<LocalRegistry> registry_;
};

TEST_F(PullWithAuth, BasicCredentialsPull) {
  Outcome pulled =
      roost({"pull", "--creds", "puller:s3cret pass", registry_->reference("private:1")});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  Outcome echoed = run_in(registry_->host() + "/private:1", {"echo", "in"});
  EXPECT_EQ(echoed.out, "in\n") << echoed.describe();
}

TEST_F(PullWithAuth, RunPullsWithTheCredentialsItIsGiven) {
  Outcome refused = run_in(registry_->reference("private:1"), {"true"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_NE(refused.err.find("requires credentials"), std::string::npos) << refused.describe();
  Outcome echoed =
      run_in(registry_->reference("private:1"), {"echo", "run"}, {"--creds", "puller:s3cret pass"});
  EXPECT_EQ(echoed.exit_code, 0) << echoed.describe();
  EXPECT_EQ(echoed.out, "run\n");
}

TEST_F(PullWithAuth, NoCredentialsAskForThem) {
  Outcome refused = roost({"pull", registry_->reference("private:1")});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_NE(refused.err.find("requires credentials; give them with --creds USER:PASS"),
            std::string::npos)
      << refused.describe();
  EXPECT_TRUE(image_ids().empty());
}

TEST_F(PullWithAuth, WrongCredentialsAreRefused) {
  Outcome refused = roost({"pull", "--creds", "puller:wrong", registry_->reference("private:1")});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_NE(refused.err.find("refused the credentials"), std::string::npos) << refused.describe();
  EXPECT_TRUE(image_ids().empty());
  Outcome malformed = roost({"pull", "--creds", "puller", registry_->reference("private:1")});
  EXPECT_EQ(malformed.exit_code, 125) << malformed.describe();
  EXPECT_NE(malformed.err.find("--creds puller: expected USER:PASS"), std::string::npos)
      << malformed.describe();
}

// A loopback registry is trusted as docker trusts it: https without checking its
// self-signed certificate; the plain http registries of the other tests are reached after
// a TLS handshake they do not answer.
TEST_F(RoostTest, LoopbackRegistryWithTlsIsPulledOverHttps) {
  LocalRegistry::Options options;
  options.tls = true;
  LocalRegistry registry(scratch("tls-registry"), options);
  registry.push("oci:" + fixtures::busybox_layout().string() + ":1", "busybox:1");
  Outcome pulled = roost({"pull", registry.reference("busybox:1")});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  Outcome echoed = run_in(registry.reference("busybox:1"), {"echo", "tls"});
  EXPECT_EQ(echoed.out, "tls\n") << echoed.describe();
}

TEST_F(RoostTest, ExplicitTlsVerifyChecksALoopbackRegistrysCertificate) {
  LocalRegistry::Options options;
  options.tls = true;
  LocalRegistry registry(scratch("tls-registry"), options);
  registry.push("oci:" + fixtures::busybox_layout().string() + ":1", "busybox:1");
  Outcome refused = roost({"pull", "-q", "--tls-verify=true", registry.reference("busybox:1")});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(lines_of(refused.err).size(), 1u) << refused.describe();
  EXPECT_NE(refused.err.find("certificate"), std::string::npos) << refused.describe();
  EXPECT_NE(refused.err.find("use --tls-verify=false"), std::string::npos) << refused.describe();
  EXPECT_TRUE(image_ids().empty());
  Outcome run = run_in(registry.reference("busybox:1"), {"true"}, {"--tls-verify=true"});
  EXPECT_EQ(run.exit_code, 125) << run.describe();
  EXPECT_TRUE(image_ids().empty());
}

// The registry redirects blob downloads to a storage server, as registries do to cloud
// storage.
class PullFromRedirectingRegistry : public RoostTest {
 protected:
  void start(bool stall) {
    storage_ = std::make_unique<BlobStorage>(scratch("registry") / "storage", stall);
    LocalRegistry::Options options;
    options.extra_config = storage_->registry_config();
    registry_ = std::make_unique<LocalRegistry>(scratch("registry"), options);
    registry_->push("oci:" + fixtures::busybox_layout().string() + ":1", "busybox:1");
  }
  void TearDown() override {
    registry_.reset();
    storage_.reset();
    RoostTest::TearDown();
  }

  bool partial_download_seen() {
    std::error_code error;
    for (fs::recursive_directory_iterator it(roost_root() / "tmp", error), end; !error && it != end;
         it.increment(error)) {
      if (it->path().extension() == ".partial" && fs::file_size(it->path(), error) > 0) return true;
    }
    return false;
  }

  std::unique_ptr<BlobStorage> storage_;
  std::unique_ptr<LocalRegistry> registry_;
};

TEST_F(PullFromRedirectingRegistry, BlobsComeFromWhereTheRegistrySendsThem) {
  start(false);
  Outcome pulled = roost({"pull", registry_->reference("busybox:1")});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  std::string layer = layout_layer_digests(fixtures::busybox_layout()).front().substr(7);
  std::vector<std::string> served = storage_->paths_served();
  EXPECT_TRUE(
      std::any_of(served.begin(), served.end(),
                  [&](const std::string& path) { return path.find(layer) != std::string::npos; }))
      << "the storage server was not asked for layer " << layer;
  Outcome echoed = run_in(registry_->reference("busybox:1"), {"echo", "redirected"});
  EXPECT_EQ(echoed.out, "redirected\n") << echoed.describe();
}

TEST_F(PullFromRedirectingRegistry, InterruptedPullLeavesNothingAndTheNextSweepsIt) {
  start(true);
  Background pulling(installation().spawn({"pull", "-q", registry_->reference("busybox:1")}));
  bool seen = false;
  for (int attempt = 0; attempt < 600 && !seen; ++attempt) {
    seen = partial_download_seen();
    if (!seen) std::this_thread::sleep_for(Millis(50));
  }
  ASSERT_TRUE(seen) << "no layer download under way in " << roost_root() / "tmp";
  pulling.signal(SIGKILL);
  pulling.finish(Millis(10000));
  EXPECT_TRUE(image_ids().empty());
  EXPECT_TRUE(layer_dirs().empty());
  EXPECT_EQ(roost({"images", "-q"}).out, "");
  storage_->release();
  Outcome again = roost({"pull", "-q", registry_->reference("busybox:1")});
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_EQ(image_ids().size(), 1u);
  EXPECT_TRUE(fs::is_empty(roost_root() / "tmp")) << "the interrupted pull's work is left";
}

// The registry sends clients to a token service (a thread of this test) that gives
// tokens to those with credentials, or to anyone.
class PullWithToken : public RoostTest {
 protected:
  void start(bool anonymous) {
    tokens_ =
        std::make_unique<TokenService>(scratch("tokens"), "private", "puller", "pw", anonymous);
    registry_ = std::make_unique<LocalRegistry>(
        scratch("registry"),
        LocalRegistry::Options{"puller", "pw", tokens_->registry_config(), ""});
    registry_->push("oci:" + fixtures::busybox_layout().string() + ":1", "private:1");
  }
  void TearDown() override {
    registry_.reset();
    tokens_.reset();
    RoostTest::TearDown();
  }
  std::unique_ptr<TokenService> tokens_;
  std::unique_ptr<LocalRegistry> registry_;
};

TEST_F(PullWithToken, CredentialsBuyATokenFromTheRealm) {
  start(false);
  int given = tokens_->tokens_given();
  Outcome refused = roost({"pull", registry_->reference("private:1")});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_NE(refused.err.find("requires credentials; give them with --creds USER:PASS"),
            std::string::npos)
      << refused.describe();
  EXPECT_TRUE(image_ids().empty());
  Outcome pulled = roost({"pull", "--creds", "puller:pw", registry_->reference("private:1")});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  EXPECT_GT(tokens_->tokens_given(), given);
  Outcome echoed = run_in(registry_->reference("private:1"), {"echo", "token"});
  EXPECT_EQ(echoed.out, "token\n") << echoed.describe();
}

TEST_F(PullWithToken, AnonymousTokenForAPublicImage) {
  start(true);
  int given = tokens_->tokens_given();
  Outcome pulled = roost({"pull", registry_->reference("private:1")});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.describe();
  EXPECT_GT(tokens_->tokens_given(), given);
}

}  // namespace
}  // namespace rootless
