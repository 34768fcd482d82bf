"""The demo data (演示数据): made when it is loaded, by ``resources.demo.generate.build_demo(now)``; nothing frozen ships."""
