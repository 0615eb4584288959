"""The status API's pure parts: ticket and clock views, the open-clock listing, access and queries."""
