from monoscope.cli import run

run()
