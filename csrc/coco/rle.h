// Run-length encoded binary masks in the COCO format, independent of Python and of torch.
//
// A mask of h x w pixels is read in column-major (Fortran) order and stored as alternating run
// lengths, the first run counting zeros (it is 0 when the mask starts with a one). This is the
// format of pycocotools' maskApi.c, and every function here gives the same result as its
// counterpart there (rleEncode, rleDecode, rleMerge, rleArea, rleToBbox, rleFrBbox, rleFrPoly,
// rleToString, rleFrString, rleIou, bbIou), including its rounding and its edge cases.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tva {
namespace coco {

struct Rle {
  uint64_t h = 0;
  uint64_t w = 0;
  std::vector<uint32_t> counts;
};

// Boxes are (x, y, width, height), as in COCO annotations.
struct Box {
  double x, y, w, h;
};

// Encodes a column-major mask of 0/1 bytes (a run ends wherever the byte value changes, as in
// maskApi).
Rle rle_encode(const uint8_t* mask, uint64_t h, uint64_t w);

// Writes h*w bytes (0/1) in column-major order. Runs beyond h*w are an error (returns false).
bool rle_decode(const Rle& r, uint8_t* out);

// Union (intersect=false) or intersection of masks of equal size; masks of different sizes give
// the empty 0x0 RLE, as maskApi does.
Rle rle_merge(const std::vector<const Rle*>& rles, bool intersect);

uint64_t rle_area(const Rle& r);

// Tight bounding box of the foreground, (0, 0, 0, 0) for an empty mask.
Box rle_to_bbox(const Rle& r);

// Rasterises a polygon given as k (x, y) pairs, exactly as maskApi's rleFrPoly.
Rle rle_from_polygon(const double* xy, uint64_t k, uint64_t h, uint64_t w);

// The polygon of a box's four corners, rasterised.
Rle rle_from_bbox(const Box& b, uint64_t h, uint64_t w);

// COCO's compressed counts string (LEB128-like, 6 bits per character, deltas from the count two
// places back for counts after the third).
std::string rle_to_string(const Rle& r);

// Parses a compressed counts string. Returns false (and leaves r empty) on malformed input.
bool rle_from_string(const char* s, uint64_t len, uint64_t h, uint64_t w, Rle& r);

// Number of foreground pixels the two masks share; both must have the same size.
uint64_t rle_intersection(const Rle& a, const Rle& b);

// IoU of boxes as maskApi's bbIou: for a crowd ground truth the union is the detection's area.
double box_iou(const Box& d, const Box& g, bool crowd);

// IoU of masks as maskApi's rleIou (bbox pre-check, -1 for masks of different size, crowd rule).
// Areas and boxes are passed in so callers that compare one mask with many compute them once.
double rle_iou(const Rle& d, const Rle& g, uint64_t area_d, uint64_t area_g, const Box& box_d,
               const Box& box_g, bool crowd);

} // namespace coco
} // namespace tva
