// Inputs that once hung or fooled the file readers (issue 15) are refused up front: a FIFO
// given as a file, a gzip file without its trailer or with a wrong one (at the right byte),
// and the temp files of a killed save are cleaned up by the next save.
#include "fork_util.hpp"
#include "test_util.hpp"

#include "tapegrad/tapegrad.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using namespace tg;

namespace {

using Bytes = std::vector<std::uint8_t>;
using test::expect_error;
using test::read_file;
using test::TempDir;
using test::write_file;

// A valid IDX labels file of n labels (i mod 10).
Bytes idx_labels(std::uint32_t n) {
  Bytes b = {0, 0, 8, 1};
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(n >> s));
  for (std::uint32_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(i % 10));
  return b;
}

// `bytes` as one gzip member, written by zlib's own gzip writer.
Bytes gzip(const Bytes& bytes) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&zs, static_cast<uLong>(bytes.size())) + 64);
  zs.next_in = const_cast<Bytes::value_type*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// Runs `body` in a child that SIGALRM kills after 10 s: a hang fails instead of blocking.
test::ChildResult within_ten_seconds(const std::function<void()>& body) {
  return test::run_in_child([] { alarm(10); }, body);
}

}  // namespace

TEST(RefusedInputs, AFifoGivenAsACheckpointIsRefusedWithoutWaitingForAWriter) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir / "run.tg").c_str(), 0600), 0);
  const test::ChildResult r = within_ten_seconds([&] { load_checkpoint(dir / "run.tg"); });
  EXPECT_EQ(r.end, test::ChildEnd::threw_tg_error) << "a hang ends as a crash (SIGALRM)";
  EXPECT_NE(r.message.find("run.tg: not a regular file (a FIFO)"), std::string::npos) << r.message;
}

TEST(RefusedInputs, AFifoOrAFolderGivenAsAnIdxFileIsRefusedWithoutWaitingForAWriter) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir / "labels").c_str(), 0600), 0);
  const test::ChildResult r = within_ten_seconds([&] { read_idx_labels(dir / "labels"); });
  EXPECT_EQ(r.end, test::ChildEnd::threw_tg_error) << "a hang ends as a crash (SIGALRM)";
  EXPECT_NE(r.message.find("labels: not a regular file (a FIFO)"), std::string::npos) << r.message;
  expect_error([&] { read_idx_images(dir.str()); }, {"not a regular file (a folder)"});
}

TEST(RefusedInputs, AFifoOrAFolderGivenAsACsvFileIsRefusedWithoutWaitingForAWriter) {
  TempDir dir;
  ASSERT_EQ(mkfifo((dir / "rows.csv").c_str(), 0600), 0);
  const test::ChildResult r = within_ten_seconds([&] { read_csv(dir / "rows.csv"); });
  EXPECT_EQ(r.end, test::ChildEnd::threw_tg_error) << "a hang ends as a crash (SIGALRM)";
  EXPECT_NE(r.message.find("rows.csv: not a regular file (a FIFO)"), std::string::npos)
      << r.message;
  expect_error([&] { read_csv(dir.str()); }, {"not a regular file (a folder)"});
}

TEST(RefusedInputs, AGzipFileWithoutItsEightByteTrailerIsRefused) {
  TempDir dir;
  const Bytes gz = gzip(idx_labels(1000));
  write_file(dir / "whole.gz", gz);
  EXPECT_EQ(read_idx_labels(dir / "whole.gz").labels.size(), 1000u);
  write_file(dir / "no-trailer.gz", Bytes(gz.begin(), gz.end() - 8));
  expect_error([&] { read_idx_labels(dir / "no-trailer.gz"); },
               {"no-trailer.gz: byte " + std::to_string(gz.size() - 8) +
                    ": the gzip stream ends here, after 1008 decompressed bytes",
                "8-byte CRC and length trailer"});
  // Half a trailer is no better.
  write_file(dir / "half.gz", Bytes(gz.begin(), gz.end() - 4));
  expect_error([&] { read_idx_labels(dir / "half.gz"); },
               {"half.gz: byte " + std::to_string(gz.size() - 4) + ": the gzip stream ends"});
}

TEST(RefusedInputs, AWrongGzipTrailerIsRefusedAtTheByteOfTheFieldThatIsWrong) {
  TempDir dir;
  const Bytes gz = gzip(idx_labels(1000));
  Bytes crc = gz;
  crc[crc.size() - 8] ^= 0x01;  // the CRC-32 starts 8 bytes from the end
  write_file(dir / "crc.gz", crc);
  expect_error([&] { read_idx_labels(dir / "crc.gz"); },
               {"crc.gz: byte " + std::to_string(gz.size() - 8) +
                ": the CRC-32 in the gzip trailer does not match the decompressed data"});
  Bytes length = gz;
  length[length.size() - 4] ^= 0x01;  // then the length modulo 2^32
  write_file(dir / "length.gz", length);
  expect_error([&] { read_idx_labels(dir / "length.gz"); },
               {"length.gz: byte " + std::to_string(gz.size() - 4) +
                ": the length in the gzip trailer does not match"});
}

TEST(RefusedInputs, BadCompressedDataIsReportedAtAByteOfTheCompressedFile) {
  TempDir dir;
  const Bytes gz = gzip(idx_labels(1000));
  Bytes bad = gz;
  bad[10] = 0xFF;  // the first deflate block header (after the 10-byte gzip header): type 3
  write_file(dir / "bad.gz", bad);
  try {
    read_idx_labels(dir / "bad.gz");
    ADD_FAILURE() << "bad.gz loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("of the compressed file, after 0 decompressed bytes: invalid block type"),
              std::string::npos)
        << msg;
    // zlib reads a whole byte to get the block's 3 header bits: it stops right after byte 10.
    EXPECT_NE(msg.find("bad.gz: byte 11: "), std::string::npos) << msg;
  }
  // A gzip header cut short is reported where that header starts.
  write_file(dir / "header.gz", Bytes(gz.begin(), gz.begin() + 6));
  expect_error([&] { read_idx_labels(dir / "header.gz"); },
               {"header.gz: byte 0: the gzip header starting here is cut short"});
}

TEST(RefusedInputs, ConcatenatedGzipMembersReadAsOneStreamAndEachNeedsItsTrailer) {
  TempDir dir;
  const Bytes plain = idx_labels(1000);
  const Bytes first = gzip(Bytes(plain.begin(), plain.begin() + 300));
  const Bytes second = gzip(Bytes(plain.begin() + 300, plain.end()));
  Bytes two = first;
  two.insert(two.end(), second.begin(), second.end());
  write_file(dir / "two.gz", two);
  EXPECT_EQ(read_idx_labels(dir / "two.gz").labels,
            parse_idx_labels(plain.data(), plain.size(), "plain").labels);
  // The first member without its trailer: the second member's header is no CRC.
  Bytes cut(first.begin(), first.end() - 8);
  cut.insert(cut.end(), second.begin(), second.end());
  write_file(dir / "cut.gz", cut);
  expect_error([&] { read_idx_labels(dir / "cut.gz"); },
               {"cut.gz: byte " + std::to_string(first.size() - 8) + ": the CRC-32 in the gzip"});
  // Bytes after the last member that are not another member.
  Bytes junk = two;
  junk.push_back(0);
  junk.push_back(0);
  write_file(dir / "junk.gz", junk);
  expect_error([&] { read_idx_labels(dir / "junk.gz"); },
               {"junk.gz: byte ", "(member 3)", "incorrect header check"});
}

TEST(RefusedInputs, ASaveRemovesTheTempFilesOfKilledSavesToTheSamePathOnly) {
  TempDir dir;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);  // reaped: its pid names no process now
  const std::string dead = std::to_string(child);
  const std::string alive = std::to_string(getppid());
  for (const std::string& name : {"run.tg.tmp." + dead, "run.tg.tmp." + alive,
                                  "other.tg.tmp." + dead, std::string("run.tg.tmp.notapid")})
    write_file(dir / name, {1, 2, 3});
  StateDict s;
  s.integers["progress.epochs_done"] = 1;
  save_checkpoint(dir / "run.tg", s);
  std::vector<std::string> files = dir.files();
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"other.tg.tmp." + dead, "run.tg",
                                             "run.tg.tmp." + alive, "run.tg.tmp.notapid"}));
  EXPECT_EQ(load_checkpoint(dir / "run.tg").integer("progress.epochs_done"), 1);
}
