"""The demo data set (演示数据): a demo CA's certificates, a formulary and signed prescription bundles."""
