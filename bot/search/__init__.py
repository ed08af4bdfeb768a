"""Files → articles → paragraphs → tokens → index → hits → answers: finding what to quote."""
